"""GPU-only checks (skipped without CUDA). Run them with launch/gpu_check.sh."""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

import pytest
import torch

from torchrec_dlf.models.interaction_arch import DLFInteractionArch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HAS_TORCHREC_CUDA = (
    importlib.util.find_spec("torchrec") is not None
    and importlib.util.find_spec("fbgemm_gpu") is not None
)


def _arch() -> DLFInteractionArch:
    torch.manual_seed(0)
    return DLFInteractionArch(num_sparse_features=26, embedding_dim=64, num_layers=3)


class DLFInteractionArchCudaTest(unittest.TestCase):
    def test_cuda_matches_cpu_forward_and_backward(self) -> None:
        cpu = _arch().eval()
        gpu = _arch().eval().cuda()
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        dense, sparse = torch.randn(64, 64), torch.randn(64, 26, 64)
        out_cpu = cpu(dense_features=dense, sparse_features=sparse)
        out_gpu = gpu(dense_features=dense.cuda(), sparse_features=sparse.cuda())
        torch.testing.assert_close(out_gpu.cpu(), out_cpu, rtol=1e-4, atol=1e-4)
        out_cpu.square().sum().backward()
        out_gpu.square().sum().backward()
        for (name, a), (_, b) in zip(cpu.named_parameters(), gpu.named_parameters()):
            torch.testing.assert_close(
                b.grad.cpu(), a.grad, rtol=1e-3, atol=1e-3, msg=name
            )

    def test_bf16_autocast_close_to_fp32(self) -> None:
        arch = _arch().eval().cuda()
        dense, sparse = torch.randn(256, 64).cuda(), torch.randn(256, 26, 64).cuda()
        ref = arch(dense_features=dense, sparse_features=sparse)
        # The matmuls run in bf16; the arch's output may stay fp32 (autocast keeps
        # LayerNorm in fp32), so look at a linear layer's output instead.
        seen = []
        linear = next(m for m in arch.modules() if isinstance(m, torch.nn.Linear))
        hook = linear.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
        with torch.autocast("cuda", dtype=torch.bfloat16):
            low = arch(dense_features=dense, sparse_features=sparse)
        hook.remove()
        self.assertEqual(seen[0], torch.bfloat16)
        cos = torch.nn.functional.cosine_similarity(
            low.float().flatten(), ref.flatten(), dim=0
        )
        self.assertGreater(cos.item(), 0.999)

    def test_batch_independence_on_cuda(self) -> None:
        arch = _arch().eval().cuda()
        dense, sparse = torch.randn(8, 64).cuda(), torch.randn(8, 26, 64).cuda()
        out = arch(dense_features=dense, sparse_features=sparse)
        sparse2 = sparse.clone()
        sparse2[5] += 1.0
        out2 = arch(dense_features=dense, sparse_features=sparse2)
        others = [i for i in range(8) if i != 5]
        torch.testing.assert_close(out[others], out2[others], rtol=0, atol=1e-6)


@unittest.skipUnless(
    HAS_TORCHREC_CUDA, "needs torchrec and the CUDA build of fbgemm-gpu"
)
class TrainerCudaTest(unittest.TestCase):
    def test_train_job_on_cuda_with_nccl(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            done = subprocess.run(
                [
                    sys.executable,
                    "launch/train.py",
                    "--device",
                    "cuda",
                    "--cache_dir",
                    d,
                    "--synthetic_train_rows",
                    "20000",
                    "--synthetic_eval_rows",
                    "4000",
                    "--dense_precision",
                    "bf16",
                    "--embedding_optimizer",
                    "adam",
                    "--limit_train_batches",
                    "5",
                    "--print_progress",
                    "off",
                    "--output_dir",
                    d,
                    "--run_name",
                    "cuda",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=900,
            )
            self.assertEqual(
                done.returncode, 0, done.stdout[-3000:] + done.stderr[-3000:]
            )
            with open(os.path.join(d, "cuda", "metrics.json")) as f:
                metrics = json.load(f)
            self.assertEqual(metrics["backend"], "nccl")
            self.assertTrue(metrics["device"].startswith("cuda"))
