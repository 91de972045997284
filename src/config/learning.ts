// Config section `learning` (the learning loop, docs/learning.md), owned by src/learning.
import { Type } from '@sinclair/typebox';

export const LearningSection = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Run the learning loop: candidates fitted from reviewed verdicts, a shadow run beside the live model, comparison and promotion (docs/learning.md).' }),
    candidate: Type.Optional(
      Type.String({ minLength: 1, description: 'A candidate model package to shadow from the start (relative to the config file). Default: none until one is fitted.' }),
    ),
    shadow: Type.Object(
      {
        share: Type.Number({
          exclusiveMinimum: 0,
          maximum: 1,
          default: 1,
          description: 'Share of inspected frames the candidate scores too (1 = every frame). Frames arriving while the candidate is still busy are skipped and counted, so the share achieved (shown on the Learning page and in /api/learning) can be lower when CPU is short.',
        }),
        keepDisagreements: Type.Boolean({
          default: true,
          description: 'Keep the image of a frame the two models disagree on (live ok / candidate defect or the reverse) even when the sampling policy did not, so reviewers can judge it; not under disk pressure.',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    train: Type.Object(
      {
        everyVerdicts: Type.Integer({ minimum: 0, default: 0, description: 'Fit a new candidate after this many new reviewer verdicts (0 = only by hand: the Learning page or POST /api/learning/train). A candidate in shadow is not replaced by the rule before it has the reviewed frames promotion.minFrames and minPerClass ask for.' }),
        minMinutesBetween: Type.Number({
          minimum: 0,
          default: 15,
          description: 'The every-N-verdicts rule starts a fit at most once in this many minutes (counted from the start of the last fit), so a fast reviewer does not keep a core busy refitting; verdicts that came meanwhile count towards the next fit, which starts when the time is up. Fits asked for by hand are not held back.',
        }),
        unreviewedOk: Type.Boolean({
          default: true,
          description: 'Also fit on stored images the live model judged ok that nobody reviewed (most frames reviewers never see are good; without them a candidate learns "good" only from false alarms).',
        }),
        maxImages: Type.Integer({ minimum: 10, default: 400, description: 'At most this many images per fit (the newest).' }),
        search: Type.Boolean({ default: false, description: 'Let `visor fit` search the head and normalisation (slower; see docs/fit.md).' }),
        nice: Type.Integer({ minimum: 0, maximum: 19, default: 19, description: 'Scheduling priority of the fitting process (19 = lowest), so the line keeps its frame rate.' }),
        threads: Type.Integer({ minimum: 1, default: 1, description: 'onnxruntime threads of the fit.' }),
      },
      { additionalProperties: false, default: {} },
    ),
    promotion: Type.Object(
      {
        minFrames: Type.Integer({ minimum: 2, default: 50, description: 'Reviewed frames both models scored before a promotion is allowed.' }),
        minPerClass: Type.Integer({ minimum: 1, default: 5, description: 'Of them, at least this many good and this many defect frames.' }),
        margin: Type.Number({ minimum: 0, default: 0.02, description: 'AUROC by which the candidate must beat the live model on those frames.' }),
        auto: Type.Boolean({ default: false, description: 'Promote by itself when the rule holds (checked after each verdict); otherwise an engineer or admin promotes on the Learning page.' }),
        bootstrap: Type.Integer({ minimum: 0, default: 500, description: 'Bootstrap resamples for the confidence intervals (0 = none).' }),
      },
      { additionalProperties: false, default: {} },
    ),
    fleet: Type.Object(
      {
        upload: Type.Boolean({ default: false, description: 'Upload each fitted candidate, its dataset manifest and (on promotion) its comparison to Blob Storage (the `upload` section\'s account) under <line>/learning/<version>/.' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
);
