// Defaults and named input scalings of `visor fit`, kept free of heavy imports so the CLI can
// describe its options without loading onnxruntime or onnx-proto.

export const DEFAULTS = {
  // Chosen by 5-fold cross-validation on the ELPV dev cells, unsupervised (`npx tsx bench/fit.ts`,
  // docs/fit.md): MobileNetV2 block 3+4+6 image AUROC 0.913 ± 0.014 (poly cells 0.930) against
  // PP-LCNet's 0.871 ± 0.011 (poly 0.811) at about 8 vs 7 ms per image on one thread;
  // InceptionV3 (0.924) costs 40 ms. These layers
  // are the backbone's own defaultLayers too (models/backbones/mobilenet_v2/backbone.json;
  // test/modelling/fit checks they agree); they apply only when the default backbone is used.
  backbone: 'mobilenet_v2',
  layers: ['block_3_expand_relu', 'block_4_expand_relu', 'block_6_expand_relu'],
  /**
   * A second backbone for the supervised head only (with labelled images and the default
   * backbone): its pooled features join the logistic row. Two different networks see different
   * things: on ELPV, 5-fold CV with labels (`npx tsx bench/fit.ts --mode supervised`),
   * MobileNetV2 alone 0.938 ± 0.016, with InceptionV3's mixed2 at 224 px 0.953 ± 0.014 for
   * about 11 ms more per image (docs/fit.md). The anomaly head does not use it. Its input is
   * the first backbone's, converted in the graph to this scaling and size.
   */
  second: { backbone: 'inception_v3', layers: ['mixed2'], inputSize: 224, scaling: 'symmetric' as ScalingName },
  /**
   * A partner backbone for unsupervised models with the default backbone: it gets its own patch
   * heads and Gaussian (the search's choice), calibrated on the same folds, and the model's score
   * is the mean of the two calibrated scores. Two differently trained networks notice different
   * things (PP-LCNet sees ELPV's dark areas that MobileNetV2 barely does), and PP-LCNet costs
   * about as much as MobileNetV2 (docs/fit.md, Quality across products: the partner backbone).
   * It takes the first backbone's input size and grid. By default only on surfaces that are not
   * aligned (position dependence below MAX_POSITION_DEPENDENCE): there it lifted paper from 0.974
   * to 0.994, while on aligned parts it gained castings 0.002 and cost ELPV cells 0.006 beside the
   * per-mode spread calibration; named with --partner-backbone, it is used on any product.
   */
  partner: { backbone: 'pplcnet' },
  perPosition: 128,
  /**
   * Patch heads when they are not searched (`search: false`): the position-restricted local head,
   * as before the search existed.
   */
  head: 'local' as 'local' | 'global' | 'both',
  /** Coreset size of the global patch bank: its memory and time are bounded by it. */
  bankSize: 2048,
  topK: 3,
  /**
   * Neighbourhood normalisation when it is not searched (neighbours.ts): none, as before the
   * search tried it.
   */
  normalise: 'none' as 'none' | 'patch' | 'all',
  /** Feature candidates the search tries with the default backbone (besides the default layers and size). */
  search: {
    layerSets: [['block_3_expand_relu', 'block_4_expand_relu', 'block_6_expand_relu']] as readonly (readonly string[])[],
    inputSizes: [256] as readonly number[],
    /**
     * A finer feature grid (16-pixel cells at 256 px) the search also tries, with the global
     * patch bank only: small defects on a surface (paper impurities) show on it, and the local
     * head at 16×16 would hold 35 MB. Unset grid and head only.
     */
    fineGrid: 16 as number | undefined,
  },
  modes: 2,
  /** Weight of the global Gaussian in the anomaly score (cross-validated on ELPV; 0.25–1 within 0.003 AUROC). */
  globalWeight: 0.5,
  folds: 5,
  targetFalseAlarmRate: 0.05,
  seed: 20261126,
} as const;

/** Named input scalings for backbones without a manifest (or to override one). */
export const SCALINGS = {
  /** x/255, then ImageNet mean/std (torchvision models, PP-LCNet). */
  imagenet: { scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  /** x/255 (Keras InceptionV3 cut early, many TF models). */
  unit: { scale: 1 / 255, mean: [0], std: [1] },
  /** x/127.5 − 1 (Keras MobileNetV2). */
  symmetric: { scale: 1 / 127.5, mean: [1], std: [1] },
} as const;
export type ScalingName = keyof typeof SCALINGS;
