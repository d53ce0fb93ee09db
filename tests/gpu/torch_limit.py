"""PyTorch under libvxpu with VXPU_MEMORY_LIMIT=4GiB (run by tests/gpu/run.sh).

Checks what a framework user sees: torch.cuda.mem_get_info() reports a
4 GiB device; 256 MiB tensors can be allocated until the limit (less the
few MiB the caching allocator keeps for small blocks), the next one raises
torch.cuda.OutOfMemoryError; after freeing them the same room is there
again. Prints "torch: ok" when all hold, else what did not.
"""
import sys

import torch

GIB = 1 << 30
STEP = 256 << 20
LIMIT = 4 * GIB


def fill():
    tensors = []
    try:
        while len(tensors) * STEP <= 2 * LIMIT:
            tensors.append(torch.empty(STEP, dtype=torch.uint8, device="cuda"))
    except torch.cuda.OutOfMemoryError:
        return tensors, True
    return tensors, False


def main():
    problems = []
    free, total = torch.cuda.mem_get_info()
    print(f"torch: mem_get_info free={free} total={total}")
    if total != LIMIT:
        problems.append(f"mem_get_info total {total} != {LIMIT}")
    tensors, refused = fill()
    allocated = len(tensors) * STEP
    print(f"torch: allocated {allocated >> 20} MiB in {len(tensors)} tensors, refused={refused}")
    if not refused:
        problems.append("no out-of-memory error beyond the limit")
    if allocated > LIMIT:
        problems.append(f"allocated {allocated} beyond the limit")
    if allocated < LIMIT - 2 * STEP:
        problems.append(f"only {allocated} allocated under a {LIMIT} limit")
    free, total = torch.cuda.mem_get_info()
    if free > LIMIT - allocated:
        problems.append(f"free {free} while {allocated} of {LIMIT} is held")
    count = len(tensors)
    del tensors
    torch.cuda.empty_cache()
    again, refused_again = fill()
    print(f"torch: after freeing, {len(again)} tensors again")
    if len(again) != count or not refused_again:
        problems.append(f"after freeing: {len(again)} tensors, expected {count}")
    for p in problems:
        print(f"torch: FAIL {p}")
    if not problems:
        print("torch: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
