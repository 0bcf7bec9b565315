"""The `azr` command. Subcommands live in `azr.commands.*`; each imports its heavy
dependencies (torch, transformers) only when it runs, so `azr --help` stays fast.

Every mistake, whether a bad option (click's usage errors), a bad value (`UserError`) or a
missing optional dependency, is answered with one line `azr: error: ...` and exit status 2.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

try:  # typer >= 0.22 carries its own copy of click
    from typer._click import exceptions as _click_exc
except ImportError:  # pragma: no cover - older typer uses the click package
    from click import exceptions as _click_exc  # type: ignore[no-redef]

from azr.commands import bench, evaluate, export, grade, report, train, validate

app = typer.Typer(
    name="azr",
    help="Absolute Zero self-play: propose and solve Python reasoning tasks, verified in a sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help and errors: no boxes, no `<bool>` after flags.
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        from azr import __version__

        print(f"azr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_version
        ),
    ] = False,
) -> None:
    """Absolute Zero self-play: propose and solve Python reasoning tasks, verified in a sandbox."""


for module in (train, validate, grade, evaluate, report, export, bench):
    module.register(app)


def _usage_line(exc: _click_exc.UsageError) -> str:
    """click's usage error as one line, with the command's --help to look at."""
    text = " ".join(exc.format_message().split())
    if exc.ctx is not None:
        text += f" (see: {exc.ctx.command_path} --help)"
    return text


def _fail(message: str) -> None:
    print(f"azr: error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    """Entry point of the console script: user errors become one line and exit status 2."""
    from azr.deps import missing_module_message
    from azr.errors import UserError

    try:
        code = app(prog_name="azr", standalone_mode=False)
    except _click_exc.NoArgsIsHelpError as exc:
        exc.show()  # the help text, as `azr --help` prints it
        sys.exit(exc.exit_code)
    except _click_exc.UsageError as exc:
        _fail(_usage_line(exc))
    except _click_exc.ClickException as exc:
        _fail(" ".join(exc.format_message().split()))
    except typer.Abort:  # end of input at a prompt
        print("azr: interrupted", file=sys.stderr)
        sys.exit(130)
    except UserError as exc:
        _fail(str(exc))
    except ModuleNotFoundError as exc:
        message = missing_module_message(exc, "azr " + " ".join(sys.argv[1:2]))
        if message is None:
            raise  # not an optional dependency: a bug, keep the traceback
        _fail(message)
    except KeyboardInterrupt:
        code = 130
    if code == 130:  # typer turns Ctrl-C into exit status 130
        print("azr: interrupted", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
