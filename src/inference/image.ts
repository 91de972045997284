import sharp from 'sharp';
import { CorruptFrameError, errorMessage } from '../common/errors.js';
import type { RawImage } from '../common/types.js';

/** Decodes any image file sharp can read (PNG, JPEG, TIFF, WebP…) to rgb24; gray and alpha images become RGB. */
export async function imageFromFile(file: string): Promise<RawImage> {
  try {
    const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { width: info.width, height: info.height, pixelFormat: 'rgb24', data };
  } catch (err) {
    throw new CorruptFrameError(`cannot decode image ${file}: ${errorMessage(err)}`, { cause: err });
  }
}
