"""Run a command with write-xor-execute memory enforced, as systemd's MemoryDenyWriteExecute=
does: `python mdwe_exec.py COMMAND...`. Uses prctl(PR_SET_MDWE) (Linux 6.3+), which outlives
exec; exits 3 when the kernel lacks it."""

import ctypes
import os
import sys

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def main() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        print(f"prctl(PR_SET_MDWE) failed: errno {ctypes.get_errno()}", file=sys.stderr)
        sys.exit(3)
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
