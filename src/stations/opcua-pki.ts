// Where Visor's OPC UA server and client keep their certificates: under Visor's data folder,
// not node-opcua's default under the user's home (~/.config), which a factory device or the
// IoT Edge container does not keep. Each side has a store of its own (node-opcua's rule: two
// managers on one folder share one private key).
import path from 'node:path';
import { OPCUACertificateManager } from 'node-opcua-certificate-manager';

export type OpcuaPkiStore = 'server' | 'server-users' | 'client';

/** The folder of one store: `<dataDir>/pki/opcua-<store>` (own/, trusted/, rejected/, issuers/ under it). */
export function opcuaPkiDir(dataDir: string, store: OpcuaPkiStore): string {
  return path.join(dataDir, 'pki', `opcua-${store}`);
}

export function opcuaCertificateManager(dataDir: string, store: OpcuaPkiStore): OPCUACertificateManager {
  return new OPCUACertificateManager({
    rootFolder: opcuaPkiDir(dataDir, store),
    name: store,
    // As node-opcua's default stores do: the links use SecurityPolicy None (docs/stations.md).
    automaticallyAcceptUnknownCertificate: true,
    // No file watchers on a small device: nobody drops certificates in while Visor runs.
    disableFileWatchers: true,
  });
}
