// The local RTSP server (rtsp.ts) as a process of its own (startRtspServerProcess): the line's
// main thread must not also relay the cameras' packets, as it never does on a real line.
// Prints {"publishPort","clientPort"} on one line, then serves until killed.
import { startRtspServer } from './rtsp.js';

const rtsp = await startRtspServer({ rtpPorts: Number(process.argv[2] ?? 200) });
console.log(JSON.stringify({ publishPort: rtsp.publishPort, clientPort: rtsp.clientPort }));
process.on('SIGTERM', () => {
  rtsp.close();
  process.exit(0);
});
