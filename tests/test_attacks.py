"""Attack programs against the sandbox, each checked for host side effects.

Two executors: `guarded` is the real configuration (OS boundary + static policy); `bare` turns
the policy and the restricted builtins off to show that the OS boundary alone (bubblewrap,
seccomp, rlimits) still contains the attack. Every test is followed by a host check: no canary
file appeared, no secret leaked, and no process other than the sandboxes runs under pytest.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from azr.sandbox import ExecRequest, ExecResult, Executor, SandboxConfig
from azr.sandbox.validate import validate_triplets

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

SECRET = "azr-attack-secret-8c1f"
CANARIES = [
    Path("/tmp/azr_attack_canary"),
    Path("/tmp/azr_attack_sys"),
    Path.home() / "azr_attack_canary",
    Path.cwd() / "azr_attack_canary",
]
HOST_SECRET_FILE = Path("/tmp/azr_attack_host_secret.txt")

# Program snippets shared by several attacks.
ESCAPE_SUBCLASSES = (
    "def f(x):\n    return [c.__name__ for c in ().__class__.__base__.__subclasses__()]"
)


def _config(policy: bool, timeout_s: float = 1.0) -> SandboxConfig:
    return SandboxConfig(workers=2, timeout_s=timeout_s, memory_mb=256, policy=policy)


# Attacks that must end some other way than by the wall clock run with room on it: on a loaded
# machine (CI beside a training run) a 1 s limit was reached before a memory-growth program
# could start and hit its memory limit, which proved nothing about the memory limit.
ROOMY_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def guarded() -> Iterator[Executor]:
    os.environ["AZR_ATTACK_SECRET"] = SECRET
    HOST_SECRET_FILE.write_text(SECRET)
    with Executor(_config(policy=True)) as ex:
        yield ex
    HOST_SECRET_FILE.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def bare() -> Iterator[Executor]:
    with Executor(_config(policy=False)) as ex:
        yield ex


@pytest.fixture(scope="module")
def roomy(guarded: Executor) -> Iterator[tuple[Executor, Executor]]:
    """The guarded and the bare sandbox with a long wall clock (see ROOMY_TIMEOUT_S); after
    `guarded`, which plants the secrets the attacks look for."""
    with (
        Executor(_config(policy=True, timeout_s=ROOMY_TIMEOUT_S)) as guarded_ex,
        Executor(_config(policy=False, timeout_s=ROOMY_TIMEOUT_S)) as bare_ex,
    ):
        yield guarded_ex, bare_ex


def _descendants(root: int) -> dict[int, str]:
    """pid -> cmdline of every process below `root`."""
    parents: dict[int, int] = {}
    cmdlines: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        cmdlines[int(entry)] = cmd
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in found:
                found[child] = cmdlines[child]
                frontier.append(child)
    return found


def _is_sandbox_process(cmd: str) -> bool:
    return "bwrap" in cmd.split(" ")[0] or "_worker.main" in cmd


@pytest.fixture(autouse=True)
def host_unchanged() -> Iterator[None]:
    for canary in CANARIES:
        canary.unlink(missing_ok=True)
    yield
    for canary in CANARIES:
        assert not canary.exists(), f"attack wrote {canary} on the host"
    # an executor that just exited (recycled after a dirty job) may not be reaped yet: wait a bit
    deadline = time.monotonic() + 2.0
    while True:
        strays = {
            pid: cmd
            for pid, cmd in _descendants(os.getpid()).items()
            if not _is_sandbox_process(cmd)
        }
        if not strays or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not strays, f"processes left behind: {strays}"


def _run(ex: Executor, program: str, expr: str = "f(1)", det: bool = True) -> ExecResult:
    [res] = ex.run([ExecRequest(program, expr, check_determinism=det)])
    return res


# (id, program, input expression, statuses that count as contained)
POLICY_ATTACKS = [
    ("subclasses", ESCAPE_SUBCLASSES, "f(1)", {"policy"}),
    ("mro_walk", "def f(x):\n    return type(x).__mro__[-1].__subclasses__()", "f(1)", {"policy"}),
    ("getattr_dynamic", "def f(x):\n    return getattr(x, '__cl' + 'ass__')", "f(1)", {"policy"}),
    ("getattr_dunder", "def f(x):\n    return getattr(x, '__globals__')", "f(1)", {"policy"}),
    ("func_globals", "def f(x):\n    return f.__globals__['__builtins__']", "f(1)", {"policy"}),
    ("code_object", "def f(x):\n    return (lambda: 0).__code__.co_consts", "f(1)", {"policy"}),
    ("dunder_import", "def f(x):\n    return __import__('os').getcwd()", "f(1)", {"policy"}),
    ("eval_builtin", "def f(x):\n    return eval('1 + 1')", "f(1)", {"policy"}),
    ("exec_builtin", "def f(x):\n    exec('y = 1')\n    return 1", "f(1)", {"policy"}),
    ("format_walk", "def f(x):\n    return '{0.__class__.__base__}'.format(x)", "f(1)", {"policy"}),
    (
        "formatter_get_field",
        "def f(x):\n    return string.Formatter().get_field('0.real', [x], {})[0]",
        "f(1)",
        {"policy"},
    ),
    (
        "attrgetter_dunder",
        "import operator\ndef f(x):\n    return operator.attrgetter('__class__')(x)",
        "f(1)",
        {"policy"},
    ),
    (
        "generator_frame",
        "def f(x):\n    g = (i for i in [x])\n    return g.gi_frame.f_globals",
        "f(1)",
        {"policy"},
    ),
    (
        "traceback_frame",
        "def f(x):\n    try:\n        1 / 0\n    except Exception as e:\n"
        "        return e.__traceback__.tb_frame.f_back.f_globals",
        "f(1)",
        {"policy"},
    ),
    (
        "builtin_self",
        "def f(x):\n    return len.__self__.open('/etc/passwd').read()",
        "f(1)",
        {"policy"},
    ),
    ("vars_module", "def f(x):\n    return vars(string)['ascii_letters']", "f(1)", {"policy"}),
    ("globals_builtin", "def f(x):\n    return globals()['__builtins__']", "f(1)", {"policy"}),
    ("import_builtins", "import builtins\ndef f(x):\n    return builtins.open", "f(1)", {"policy"}),
    (
        "importlib",
        "from importlib import import_module\ndef f(x):\n    return 1",
        "f(1)",
        {"policy"},
    ),
    ("pickle_reduce", "import pickle\ndef f(x):\n    return pickle.loads(b'')", "f(1)", {"policy"}),
    ("open_read", "def f(x):\n    return open('/etc/passwd').read()", "f(1)", {"policy"}),
    (
        "open_write",
        "def f(x):\n    open('/tmp/azr_attack_canary', 'w').write('x')\n    return 1",
        "f(1)",
        {"policy"},
    ),
    (
        "socket",
        "import socket\ndef f(x):\n    return socket.create_connection(('1.1.1.1', 80))",
        "f(1)",
        {"policy"},
    ),
    (
        "subprocess",
        "import subprocess\ndef f(x):\n    return subprocess.run(['id']).returncode",
        "f(1)",
        {"policy"},
    ),
    ("os_fork", "import os\ndef f(x):\n    return os.fork()", "f(1)", {"policy"}),
    (
        "os_kill",
        "import os\ndef f(x):\n    os.kill(os.getppid(), 9)\n    return 1",
        "f(1)",
        {"policy"},
    ),
    (
        "signal_alarm",
        "import signal\ndef f(x):\n    signal.alarm(0)\n    return 1",
        "f(1)",
        {"policy"},
    ),
    ("environ", "import os\ndef f(x):\n    return dict(os.environ)", "f(1)", {"policy"}),
    (
        "sys_modules",
        "import sys\ndef f(x):\n    return sys.modules['os'].getcwd()",
        "f(1)",
        {"policy"},
    ),
    ("random", "import random\ndef f(x):\n    return random.random()", "f(1)", {"policy"}),
    ("time", "import time\ndef f(x):\n    return time.time()", "f(1)", {"policy"}),
    ("object_id", "def f(x):\n    return id(x) % 1000", "f(1)", {"policy"}),
    ("input_injection_call", "def f(x):\n    return x", "f(__import__('os').getcwd())", {"policy"}),
    (
        "input_injection_open",
        "def f(x):\n    return x",
        "f(open('/etc/hostname').read())",
        {"policy"},
    ),
    (
        "annotation_eval",
        "import typing\ndef g(x: '().__cl' + 'ass__'):\n    pass\n"
        "def f(x):\n    return str(typing.get_type_hints(g))",
        "f(1)",
        {"policy"},
    ),
    (
        "forward_ref_eval",
        "import typing\ndef f(x):\n    return str(typing.ForwardRef('1+1')._evaluate({}, {}, frozenset()))",
        "f(1)",
        {"policy"},
    ),
    (
        "dunder_in_string",
        "def f(x):\n    return '().__class__.__base__.__subclasses__()'",
        "f(1)",
        {"policy"},
    ),
    (
        "builtins_poison",
        "def f(x):\n    __builtins__['len'] = lambda s: 0\n    return 1",
        "f(1)",
        {"policy"},
    ),
]

RUNTIME_ATTACKS = [
    (
        "hidden_module_attr",
        "import re\ndef f(x):\n    return re.copyreg.dispatch_table",
        "f(1)",
        {"error"},
    ),
    ("proxy_is_read_only", "def f(x):\n    string.digits = 'x'\n    return 1", "f(1)", {"error"}),
    (
        "builtin_type_patch",
        "def f(x):\n    str.upper = lambda s: 'X'\n    return 1",
        "f(1)",
        {"error"},
    ),
    ("infinite_loop", "def f(x):\n    while True:\n        pass", "f(1)", {"timeout"}),
    (
        "swallow_everything",
        "def f(x):\n    while True:\n        try:\n            while True:\n                pass\n"
        "        except BaseException:\n            pass",
        "f(1)",
        {"timeout"},
    ),
    (
        "finally_loop",
        "def f(x):\n    while True:\n        try:\n            pass\n        finally:\n            continue",
        "f(1)",
        {"timeout"},
    ),
    ("memory_bomb", "def f(x):\n    return len('a' * (10 ** 10))", "f(1)", {"memory"}),
    ("memory_list", "def f(x):\n    return len([0] * (10 ** 9))", "f(1)", {"memory"}),
    ("recursion_bomb", "def f(x):\n    return f(x)", "f(1)", {"error"}),
    (
        "deep_nesting",
        "def f(x):\n    a = []\n    for _ in range(100000):\n        a = [a]\n    return a",
        "f(1)",
        {"not_literal", "error"},
    ),
    ("huge_output", "def f(x):\n    return 'a' * (10 ** 6)", "f(1)", {"too_large"}),
    (
        "shared_structure",
        "def f(x):\n    a = []\n    for _ in range(60):\n        a = [a, a]\n    return a",
        "f(1)",
        {"too_large"},
    ),
    ("huge_int", "def f(x):\n    return 10 ** 10000", "f(1)", {"too_large", "error"}),
    ("nan_output", "def f(x):\n    return float('nan')", "f(1)", {"not_literal"}),
    (
        "always_equal",
        "class E:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return E()",
        "f(1)",
        {"not_literal"},
    ),
    (
        "list_subclass",
        "class L(list):\n    pass\ndef f(x):\n    return L([1])",
        "f(1)",
        {"not_literal"},
    ),
    ("str_hash", "def f(x):\n    return hash('abc')", "f(1)", {"nondeterministic"}),
    ("set_order", "def f(x):\n    return list({'a', 'b', 'c', 'd'})", "f(1)", {"nondeterministic"}),
    ("system_exit", "def f(x):\n    raise SystemExit(0)", "f(1)", {"error"}),
    ("keyboard_interrupt", "def f(x):\n    raise KeyboardInterrupt", "f(1)", {"error"}),
]


@pytest.mark.parametrize(
    ("program", "expr", "allowed"),
    [pytest.param(p, e, a, id=i) for i, p, e, a in POLICY_ATTACKS + RUNTIME_ATTACKS],
)
def test_attack_contained(
    guarded: Executor,
    roomy: tuple[Executor, Executor],
    program: str,
    expr: str,
    allowed: set[str],
) -> None:
    res = _run(guarded if "timeout" in allowed else roomy[0], program, expr)
    assert res.status in allowed, res
    assert SECRET not in (res.value_repr or "") + (res.error or "")


# The same kinds of attack with the policy and restricted builtins off: the OS boundary alone.
BARE_ATTACKS = [
    ("read_passwd", "def f(x):\n    return open('/etc/passwd').read()", {"error"}),
    (
        "read_host_secret",
        f"def f(x):\n    return open({str(HOST_SECRET_FILE)!r}).read()",
        {"error"},
    ),
    (
        "read_home",
        "import os\ndef f(x):\n    return os.listdir(os.path.expanduser('~'))",
        {"error", "ok"},
    ),
    (
        "write_tmp",
        "def f(x):\n    open('/tmp/azr_attack_canary', 'w').write('x')\n    return 1",
        {"ok"},
    ),
    (
        "write_home",
        f"def f(x):\n    open({str(CANARIES[2])!r}, 'w').write('x')\n    return 1",
        {"error"},
    ),
    (
        "write_cwd",
        f"def f(x):\n    open({str(CANARIES[3])!r}, 'w').write('x')\n    return 1",
        {"error"},
    ),
    (
        "write_python_install",
        "import os\ndef f(x):\n    open(os.__file__ + '.x', 'w')\n    return 1",
        {"error"},
    ),
    ("environ", "import os\ndef f(x):\n    return sorted(os.environ.items())", {"ok"}),
    (
        "socket_tcp",
        "import socket\ndef f(x):\n    return socket.create_connection(('1.1.1.1', 80), 1)",
        {"error"},
    ),
    (
        "socket_unix",
        "import socket\ndef f(x):\n    return socket.socket(socket.AF_UNIX).fileno()",
        {"error"},
    ),
    ("fork", "import os\ndef f(x):\n    return os.fork()", {"error"}),
    ("fork_bomb", "import os\ndef f(x):\n    while True:\n        os.fork()", {"error"}),
    (
        "system",
        "import os\ndef f(x):\n    return os.system('touch /tmp/azr_attack_sys')",
        {"ok", "error"},
    ),
    (
        "subprocess",
        "import subprocess\ndef f(x):\n    return subprocess.run(['true']).returncode",
        {"error"},
    ),
    (
        "thread",
        "import threading\ndef f(x):\n    threading.Thread(target=len, args=([],)).start()\n    return 1",
        {"error"},
    ),
    ("kill_init", "import os\ndef f(x):\n    os.kill(1, 9)\n    return 1", {"error"}),
    ("kill_parent", "import os\ndef f(x):\n    os.kill(os.getppid(), 9)\n    return 1", {"error"}),
    ("kill_group", "import os\ndef f(x):\n    os.killpg(0, 9)\n    return 1", {"error"}),
    (
        "ignore_signals_loop",
        "import signal\ndef f(x):\n    for s in (signal.SIGTERM, signal.SIGXCPU, signal.SIGALRM):\n"
        "        signal.signal(s, signal.SIG_IGN)\n    while True:\n        pass",
        {"timeout"},
    ),
    (
        "raise_limits",
        "import resource\ndef f(x):\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n    return 1",
        {"error"},
    ),
    (
        "memory_growth",
        "def f(x):\n    keep = []\n    while True:\n        keep.append(' ' * 10 ** 7)",
        {"memory", "crashed"},
    ),
    ("uid", "import os\ndef f(x):\n    return os.getuid()", {"ok"}),
]


@pytest.mark.parametrize(
    ("program", "allowed"), [pytest.param(p, a, id=i) for i, p, a in BARE_ATTACKS]
)
def test_os_boundary_contains_without_policy(
    bare: Executor, roomy: tuple[Executor, Executor], program: str, allowed: set[str]
) -> None:
    res = _run(bare if "timeout" in allowed else roomy[1], program, det=False)
    assert res.status in allowed, res
    text = (res.value_repr or "") + (res.error or "")
    assert SECRET not in text
    assert "AZR_ATTACK_SECRET" not in text
    if "getuid" in program:
        assert res.value_repr == "65534"


def test_bare_executor_reports_no_policy(bare: Executor) -> None:
    assert bare.isolation_level.endswith("NO-POLICY")
    assert _run(bare, "def f(x):\n    return x + 1", det=False).value_repr == "2"


@pytest.mark.parametrize(
    ("input_text", "reason"),
    [
        ("0) or (1", "input is not an argument list"),
        ("1); import os; os.system('touch /tmp/azr_attack_sys'", "input is not an argument list"),
        ("1) #", "input is not an argument list"),
        ("1)(2", "input is not an argument list"),
        ("__import__('os').system('touch /tmp/azr_attack_sys')", "policy: "),
        ("open('/etc/hostname').read()", "policy: "),
        ("string.Formatter().get_field('0.__class__', [1], {})", "policy: "),
        ("(lambda: 0).__globals__", "policy: "),
    ],
)
def test_input_injection_is_refused(guarded: Executor, input_text: str, reason: str) -> None:
    [check] = validate_triplets(guarded, [("def f(x, *rest):\n    return 1", input_text)])
    assert not check.valid
    assert check.reason.startswith(reason), check.reason
