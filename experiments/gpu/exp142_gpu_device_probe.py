"""EXP-142: GPU device probe (a fake GPU job: runs on a machine without GPUs).

Priority: low
Requires: gpu
Runs only on a worker that declares GPUs (no real GPU needed): `npm run worker -- --resources gpu=2`
in a terminal of its own, then `npm run submit -- --dir experiments/gpu`. It prints the device staged
gave it, as a training script would hand it to its framework. It lives in a folder of its own so that
a plain `npm run submit` never waits for a GPU worker.
"""
import json
import os
import time

if __name__ == "__main__":
    name = "exp142_gpu_device_probe"
    devices = os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)")
    print(f"{name}: CUDA_VISIBLE_DEVICES={devices} STAGED_GPUS={os.environ.get('STAGED_GPUS', '(unset)')}", flush=True)
    for step in range(1, 11):
        time.sleep(0.3)
        print(f"PROGRESS {step}/10  training on GPU {devices}", flush=True)
    results_dir = os.environ.get("STAGED_RESULTS_DIR", os.path.join("results", name))
    os.makedirs(results_dir, exist_ok=True)
    with open(os.path.join(results_dir, "result.json"), "w") as out:
        json.dump({"experiment": name, "cuda_visible_devices": devices}, out)
    print(f"{name}: done", flush=True)
