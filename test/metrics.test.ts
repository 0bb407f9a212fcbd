// Metrics and Bjøntegaard deltas against independent implementations: the published anchors'
// known BD-rates and values computed with SciPy's PchipInterpolator and the PyTorch MS-SSIM of
// training/hicodec_train/metrics.py (the numbers below were printed by that code).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import type { RgbImage } from '../src/codec/codec.js';
import { bdQuality, bdRate, pchipIntegral, type RdCurve } from '../src/metrics/bd.js';
import { msSsim } from '../src/metrics/msssim.js';
import { psnr } from '../src/metrics/psnr.js';
import { KODAK } from './helpers.js';

const ANCHORS = join(KODAK, '../../anchors/kodak');
const exists = (() => {
  try {
    readFileSync(join(ANCHORS, 'vtm.json'));
    return true;
  } catch {
    return false;
  }
})();

function anchor(file: string, key = 'psnr-rgb'): RdCurve {
  const r = JSON.parse(readFileSync(join(ANCHORS, file), 'utf8')).results;
  return { bpp: r.bpp, quality: r[key] };
}

test('PCHIP integral is exact on cubics it reproduces and on lines', () => {
  const xs = [0, 1, 2.5, 4];
  assert.ok(Math.abs(pchipIntegral(xs, xs.map((x) => 3 * x + 1), 0.5, 3.5) - (1.5 * 3.5 ** 2 + 3.5 - 1.5 * 0.25 - 0.5)) < 1e-12);
  assert.equal(pchipIntegral([0, 1], [2, 2], 0, 1), 2);
});

test('BD-rate and BD-PSNR of published anchors', { skip: !exists && 'anchors not present' }, () => {
  const vtm = anchor('vtm.json');
  const jpeg = anchor('jpeg.json');
  const tcm = JSON.parse(readFileSync(join(ANCHORS, 'other/jmliu206-LIC_TCM_RD_data_kodak.json'), 'utf8')).results.large;
  const near = (a: number | undefined, b: number, tol: number) => assert.ok(a !== undefined && Math.abs(a - b) < tol, `${a} vs ${b}`);
  near(bdRate(vtm, { bpp: tcm.bpp, quality: tcm.psnr }), -11.7, 1); // issue 4's reference values
  near(bdRate(vtm, jpeg), 208, 1);
  // SciPy reference values (training/hicodec_train/metrics.py)
  near(bdRate(vtm, { bpp: tcm.bpp, quality: tcm.psnr }), -11.725468898005198, 1e-9);
  near(bdRate(vtm, jpeg), 208.49101628963447, 1e-9);
  near(bdRate(jpeg, anchor('webp.json')), -36.17616505991823, 1e-9);
  near(bdRate(anchor('bpg_444_x265_ycbcr.json'), anchor('av1.json')), -6.218413989272231, 1e-9);
  near(bdRate(anchor('jpeg.json', 'ms-ssim-rgb'), anchor('webp.json', 'ms-ssim-rgb')), -29.879409895710662, 1e-9);
  near(bdQuality(jpeg, anchor('webp.json')), 2.67582844480944, 1e-9);
  near(bdQuality(anchor('av1.json'), vtm), 0.7048524812105588, 1e-9);
  assert.equal(bdRate({ bpp: [0.1, 0.2], quality: [20, 22] }, { bpp: [0.5, 1], quality: [30, 32] }), undefined);
});

function pair(kind: 1 | 2): [RgbImage, RgbImage] {
  const [W, H] = [200, 180];
  const a = new Uint8Array(W * H * 3);
  const b = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) {
        const i = (y * W + x) * 3 + c;
        const va = kind === 1 ? (x * 7 + y * 13 + c * 50) % 256 : Math.round(128 + 100 * Math.sin(x / 9 + c) * Math.cos(y / 13));
        const noise = kind === 1 ? ((x * y + c) % 7) - 3 : ((x * 3 + y * 5 + c) % 11) - 5;
        a[i] = va;
        b[i] = Math.max(0, Math.min(255, va + noise));
      }
    }
  }
  return [{ width: W, height: H, data: a }, { width: W, height: H, data: b }];
}

test('PSNR and MS-SSIM of fixed pairs match the PyTorch reference', () => {
  const [a1, b1] = pair(1);
  const [a2, b2] = pair(2);
  assert.ok(Math.abs(psnr(a1, b1) - 42.04221662025961) < 1e-9);
  assert.ok(Math.abs(psnr(a2, b2) - 38.130880013010035) < 1e-9);
  assert.ok(Math.abs(msSsim(a1, b1) - 0.9998256928027022) < 1e-9);
  assert.ok(Math.abs(msSsim(a2, b2) - 0.997629912619764) < 1e-9);
  assert.equal(msSsim(a1, a1), 1);
  assert.equal(psnr(a1, a1), Infinity);
});
