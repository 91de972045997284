// The layer graph of a Keras (TensorFlow.js layers) model, from its Functional or Sequential topology.
import { ConvertError } from './errors.js';

export interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
}

export interface KerasGraph {
  layers: KerasLayer[];
  /** Input layer names. */
  inputs: string[];
  /** Per layer, the names of the layers it consumes. */
  inbound: Map<string, string[]>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Normalises Functional (`Model`) and `Sequential` topologies into one layer graph. */
export function kerasGraph(modelTopology: unknown): KerasGraph {
  const top = isRecord(modelTopology) && isRecord(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  if (!isRecord(top) || typeof top.class_name !== 'string') throw new ConvertError('model topology has no class_name');
  const cfg = top.config;
  if (top.class_name === 'Sequential') {
    const list = (Array.isArray(cfg) ? cfg : isRecord(cfg) ? cfg.layers : undefined) as KerasLayer[] | undefined;
    if (!Array.isArray(list) || list.length === 0) throw new ConvertError('Sequential model has no layers');
    const layers: KerasLayer[] = [];
    const first = list[0]!;
    let prev: string;
    if (first.class_name === 'InputLayer') {
      prev = String(first.config.name ?? 'input');
    } else {
      const shape = first.config.batch_input_shape;
      if (!Array.isArray(shape)) throw new ConvertError(`Sequential model: first layer ${String(first.config.name)} has no batch_input_shape`);
      prev = 'input';
      layers.push({ name: prev, class_name: 'InputLayer', config: { batch_input_shape: shape }, inbound_nodes: [] });
    }
    const inbound = new Map<string, string[]>();
    for (const l of list) {
      const name = String(l.config.name ?? l.name);
      if (l.class_name === 'InputLayer') {
        layers.push({ name, class_name: l.class_name, config: l.config, inbound_nodes: [] });
        continue;
      }
      layers.push({ name, class_name: l.class_name, config: l.config, inbound_nodes: [] });
      inbound.set(name, [prev]);
      prev = name;
    }
    return { layers, inputs: [layers[0]!.name], inbound };
  }
  if (top.class_name !== 'Model' && top.class_name !== 'Functional') {
    throw new ConvertError(`unsupported model class ${top.class_name} (expected Model, Functional or Sequential)`);
  }
  if (!isRecord(cfg) || !Array.isArray(cfg.layers)) throw new ConvertError('model config has no layers');
  const layers = cfg.layers as KerasLayer[];
  const inbound = new Map<string, string[]>();
  for (const l of layers) {
    if (l.inbound_nodes.length > 1) throw new ConvertError(`layer ${l.name} is shared (called ${l.inbound_nodes.length} times); not supported`);
    const node = l.inbound_nodes[0];
    if (node === undefined) continue;
    if (!Array.isArray(node)) throw new ConvertError(`layer ${l.name}: unsupported inbound node format`);
    inbound.set(
      l.name,
      node.map((ref) => {
        if (!Array.isArray(ref) || typeof ref[0] !== 'string') throw new ConvertError(`layer ${l.name}: unsupported inbound node format`);
        if (ref[1] !== 0 || ref[2] !== 0) throw new ConvertError(`layer ${l.name}: inbound ${ref[0]}[${ref[1]}][${ref[2]}] (shared or multi-output layers are not supported)`);
        return ref[0];
      }),
    );
  }
  const inputs = ((cfg.input_layers as unknown[]) ?? []).map((r) => (Array.isArray(r) ? String(r[0]) : String(r)));
  return { layers, inputs: inputs.length > 0 ? inputs : layers.filter((l) => l.class_name === 'InputLayer').map((l) => l.name), inbound };
}
