"""Lab kernels forked from the server that has imported torch and matplotlib already.

A lab's kernel would otherwise spend about two seconds of CPU importing them, as a snippet would
(``snippet_runner.py``); forked, it starts in a fraction of a second, in the same state as every
snippet's process. Used by hooks/notebooks.py: ``NotebookClient(...,
kernel_manager_class=ForkedKernelManager)``. The kernel is jupyter_client's own; only the way
its process starts differs: ``python -m ipykernel_launcher -f <connection file>``, run in a fork.
"""

from __future__ import annotations

import os
import sys

import snippet_runner  # beside this file
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

INLINE = "module://matplotlib_inline.backend_inline"


def serve(argv: list[str], cwd: str, env: dict[str, str]):
    """In the fork: become the kernel process ``argv`` would have started."""
    os.setsid()  # its own process group, as jupyter_client starts a kernel
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env, JPY_PARENT_PID=str(os.getppid()))  # exits if the server does
    # matplotlib, imported before the kernel set MPLBACKEND, would not draw inline: set it now
    # (pyplot picks its backend when the first figure is made)
    import matplotlib

    matplotlib.rcParams["backend"] = os.environ.setdefault("MPLBACKEND", INLINE)
    from ipykernel.kernelapp import IPKernelApp

    sys.argv = ["ipykernel_launcher", *argv[argv.index("ipykernel_launcher") + 1 :]]
    IPKernelApp.launch_instance(argv=sys.argv[1:])


class ForkedProcess:
    """A fork of the server, with the part of Popen's interface jupyter_client uses."""

    stdin = stdout = stderr = None

    def __init__(self, process):
        self.process, self.pid = process, process.pid

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int | None:
        self.process.join(timeout)
        return self.process.exitcode

    def send_signal(self, signum: int):
        os.kill(self.pid, signum)

    def kill(self):
        self.process.kill()

    def terminate(self):
        self.process.terminate()


class ForkedProvisioner(LocalProvisioner):
    async def launch_kernel(self, cmd: list[str], **kwargs) -> dict:
        cwd = str(kwargs.get("cwd") or os.getcwd())
        process = snippet_runner.server().Process(target=serve, args=(cmd, cwd, kwargs["env"]))
        # The fork imports this module by name, with the sys.path ours has when it starts
        # (mkdocs takes the hooks' folder off it once it has loaded them).
        old_path = sys.path.copy()
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        try:
            process.start()
        finally:
            sys.path[:] = old_path
        self.process = ForkedProcess(process)
        self.pid = self.pgid = process.pid
        self.cwd = cwd
        return self.connection_info


class ForkedKernelManager(AsyncKernelManager):
    async def _async_pre_start_kernel(self, **kw):
        if self.provisioner is None:
            self.provisioner = ForkedProvisioner(
                kernel_id=self.kernel_id or kw.get("kernel_id"),
                kernel_spec=self.kernel_spec,
                parent=self,
            )
        return await super()._async_pre_start_kernel(**kw)
