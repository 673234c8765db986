"""Command line: ``python -m analysis COMMAND ...`` (synth, ingest, datasets, evaluate, rerank,
embed, blend, remedies, taste, sasrec-emb, import-run, analyse-export).

A user error prints one line (``error: ...``, the message with the CLI's flag hints, see
:func:`analysis.errors.surface_hints`) on stderr and exits with code 2, never a traceback; a
rerank that left weak users without an answer exits with 3, its reason last. Long steps show
a progress bar on stderr (``--quiet`` hides it).
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from analysis.cli.analyse_export import run_analyse_export
from analysis.cli.console import EXIT_INCOMPLETE, EXIT_USER_ERROR, ProgressBars, SaidOnce
from analysis.cli.data import run_datasets, run_ingest, run_synth
from analysis.cli.embed import run_embed
from analysis.cli.evaluate import run_evaluate
from analysis.cli.import_run import run_import_run
from analysis.cli.msr import run_msr
from analysis.cli.parser import build_parser
from analysis.cli.remedies import run_blend, run_remedies
from analysis.cli.rerank import run_rerank
from analysis.cli.sasrec_emb import run_sasrec_emb
from analysis.cli.scenarios import run_scenarios
from analysis.cli.taste import run_taste
from analysis.errors import AnalysisError

__all__ = ["COMMANDS", "EXIT_INCOMPLETE", "EXIT_USER_ERROR", "build_parser", "main"]

COMMANDS = {
    "synth": run_synth,
    "ingest": run_ingest,
    "datasets": run_datasets,
    "evaluate": run_evaluate,
    "rerank": run_rerank,
    "embed": run_embed,
    "blend": run_blend,
    "remedies": run_remedies,
    "taste": run_taste,
    "sasrec-emb": run_sasrec_emb,
    "import-run": run_import_run,
    "analyse-export": run_analyse_export,
    "scenarios": run_scenarios,
    "msr": run_msr,
}

def _terminated(signum, frame) -> None:
    """SIGTERM handler: unwind like Ctrl-C, so ``finally`` blocks remove temporary files."""
    raise KeyboardInterrupt

def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 on a user error, 130 when interrupted).

    SIGTERM is handled as Ctrl-C while a command runs: the command unwinds, its temporary
    files (a zip's extraction, a run's partial output folder) are removed, and the exit
    code is 130.
    """
    args = build_parser().parse_args(argv)
    args.argv = [sys.executable, "-m", "analysis", *(sys.argv[1:] if argv is None else argv)]
    args.bars = ProgressBars(args.quiet)
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread: leave signals alone
        pass
    said = SaidOnce()
    try:
        with said:
            code = COMMANDS[args.command](args)
        said.flush()
        return code
    except AnalysisError as err:
        args.bars.close(clear=True)
        said.flush()
        print(f"error: {err.render('cli')}", file=sys.stderr)  # with the CLI's flag hints
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        args.bars.close(clear=True)
        said.flush()
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
