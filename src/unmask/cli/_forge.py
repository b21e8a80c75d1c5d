"""``unmask forge``: consent ledger, footage import, dataset build and purge."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from unmask.cli._options import add_parallel_options
from unmask.errors import ConfigError

EXAMPLES = """examples:
  unmask forge consent add --roles source,target --uses research,evaluation \\
      --document signed_form.pdf --expires 2027-12-31
  unmask forge ingest act-3f9c2d1b clip1.mp4 clip2.mp4
  unmask forge consent list
  unmask forge build spec.yaml --out datasets/bench1
  unmask forge build spec.yaml --out /mnt/shared/bench1 --cluster tcp://10.0.0.5:8786
  unmask forge consent revoke act-3f9c2d1b --reason "asked by email"
  unmask forge purge
Every command works on one workspace: --workspace DIR, else $UNMASK_FORGE_WORKSPACE,
else ./forge-workspace. See docs/forge.md.
"""


def _workspace_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--workspace",
        "-w",
        type=Path,
        default=None,
        help="forge workspace folder (default: $UNMASK_FORGE_WORKSPACE or ./forge-workspace)",
    )
    return parent


def _sub(
    sub: Any, name: str, help_: str, examples: str, parent: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_,
        description=f"{examples}\n{help_}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[parent],
    )
    return parser


def register(subparsers: Any) -> None:
    forge = subparsers.add_parser(
        "forge",
        help="build a consented deepfake benchmark (consent, ingest, build, purge)",
        description=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    forge.set_defaults(run=lambda args: forge.print_help() or 2)
    sub = forge.add_subparsers(title="forge commands", metavar="COMMAND")
    ws = _workspace_parent()

    consent = sub.add_parser(
        "consent",
        help="record, list or revoke consent",
        description="examples:\n  unmask forge consent add --roles source,target --uses research "
        "--document form.pdf\n  unmask forge consent list\n  unmask forge consent revoke "
        "act-3f9c2d1b\nrecord, list or revoke consent",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    consent.set_defaults(run=lambda args: consent.print_help() or 2)
    csub = consent.add_subparsers(title="consent commands", metavar="COMMAND")
    add = _sub(
        csub,
        "add",
        "record a signed consent for a new actor (or --actor for an existing one)",
        "example:\n  unmask forge consent add --roles source,target --uses research "
        "--document form.pdf --expires 2027-12-31",
        ws,
    )
    add.add_argument("--roles", required=True, help="comma list of: source, target")
    add.add_argument("--uses", required=True, help="comma list, e.g. research,evaluation")
    add.add_argument(
        "--document",
        type=Path,
        required=True,
        help="the signed consent form (only its sha256 is stored)",
    )
    add.add_argument(
        "--expires",
        type=date.fromisoformat,
        default=None,
        help="YYYY-MM-DD: invalid from that day on",
    )
    add.add_argument("--actor", default=None, help="add to an existing actor instead of a new one")
    add.add_argument(
        "--new-id",
        default=None,
        help="the new actor's id (act- and 8 hex digits) instead of a random one, so that a "
        "workspace rebuilt from scratch plans the same build",
    )
    add.add_argument("--json", action="store_true", help="print the record as JSON")
    add.set_defaults(run=_consent_add)
    lst = _sub(
        csub,
        "list",
        "list actors with their consent and footage",
        "example:\n  unmask forge consent list --json",
        ws,
    )
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(run=_consent_list)
    rev = _sub(
        csub,
        "revoke",
        "record that an actor withdrew consent",
        "example:\n  unmask forge consent revoke act-3f9c2d1b",
        ws,
    )
    rev.add_argument("actor")
    rev.add_argument("--reason", default="")
    rev.set_defaults(run=_consent_revoke)

    ing = _sub(
        sub,
        "ingest",
        "check and import an actor's videos or photos (rejects are stored with the reason)",
        "example:\n  unmask forge ingest act-3f9c2d1b clip1.mp4 portrait.jpg",
        ws,
    )
    ing.add_argument("actor")
    ing.add_argument("files", nargs="+", type=Path)
    ing.add_argument(
        "--max-frames", type=int, default=300, help="frames of each video to keep landmarks for"
    )
    ing.set_defaults(run=_ingest)

    build = _sub(
        sub,
        "build",
        "build (or resume) a DFDC-format dataset from a spec",
        "examples:\n  unmask forge build spec.yaml --out datasets/bench1 --workers 4\n"
        "  unmask forge build spec.yaml --out /mnt/shared/bench1 --cluster tcp://10.0.0.5:8786\n"
        "One task per video; the dataset is the same with any number of workers. On a cluster,\n"
        "every worker must see DIR and the workspace at the same absolute paths (docs/scale.md).",
        ws,
    )
    build.add_argument(
        "spec", type=Path, help="the build spec (YAML; see docs/forge_example_spec.yaml)"
    )
    build.add_argument(
        "--out", type=Path, required=True, help="dataset folder; run again to resume a build there"
    )
    add_parallel_options(build, doing="make the videos")
    build.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="N",
        help="times a failed video is retried before it is reported (default 2)",
    )
    build.add_argument("--json", action="store_true", help="print the build report as JSON")
    build.set_defaults(run=_build)

    pur = _sub(
        sub,
        "purge",
        "delete everything derived from revoked actors (files, index rows, footage, caches)",
        "example:\n  unmask forge purge\n  unmask forge purge --actor act-3f9c2d1b",
        ws,
    )
    pur.add_argument("--actor", default=None, help="only this actor (its consent must be revoked)")
    pur.add_argument(
        "--dataset",
        type=Path,
        action="append",
        default=[],
        help="also sweep this dataset folder (e.g. one moved after it was built); repeatable",
    )
    pur.set_defaults(run=_purge)

    audit = _sub(
        sub,
        "audit",
        "print the append-only audit log",
        "example:\n  unmask forge audit --actor act-3f9c2d1b",
        ws,
    )
    audit.add_argument("--actor", default=None)
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(run=_audit)

    lst2 = _sub(
        sub,
        "list",
        "list generation methods and perturbations",
        "example:\n  unmask forge list",
        ws,
    )
    lst2.set_defaults(run=_list)


def _workspace(args: argparse.Namespace) -> Any:
    from unmask.forge._workspace import Workspace, default_workspace

    return Workspace(args.workspace or default_workspace())


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _consent_add(args: argparse.Namespace) -> int:
    from unmask.forge.ledger import Ledger

    ws = _workspace(args)
    with Ledger.open(ws, create=args.actor is None) as ledger:
        event = ledger.add_consent(
            roles=_split(args.roles),
            uses=_split(args.uses),
            document=args.document,
            expires_on=args.expires,
            actor_id=args.actor,
            new_id=args.new_id,
        )
    if args.json:
        print(json.dumps(event.to_dict(), indent=2))
    else:
        expires = event.expires_on.isoformat() if event.expires_on else "never"
        print(
            f"{event.actor_id}: consent {event.event_id} recorded (roles {', '.join(event.roles)}; "
            f"uses {', '.join(event.uses)}; expires {expires}; document sha256 "
            f"{(event.document_sha256 or '')[:12]}...) in {ws.ledger_path}"
        )
    return 0


def _consent_list(args: argparse.Namespace) -> int:
    from unmask.forge.ledger import Ledger

    rows: list[dict[str, Any]] = []
    with Ledger.open(_workspace(args)) as ledger:
        for actor in ledger.actor_ids():
            state = ledger.consent(actor)
            footage = ledger.footage(actor)
            status = "valid" if state.valid else ("revoked" if state.revoked_at else "expired")
            expiries = [g.expires_on for g in state.valid]
            rows.append(
                {
                    "actor": actor,
                    "status": status,
                    "roles": list(state.roles),
                    "uses": sorted({u for g in state.valid for u in g.uses}),
                    "expires": None
                    if not expiries or None in expiries
                    else max(e for e in expiries if e).isoformat(),
                    "accepted": sum(f.status == "accepted" for f in footage),
                    "rejected": sum(f.status == "rejected" for f in footage),
                    "purged": sum(f.status == "purged" for f in footage),
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'actor':<14} {'status':<8} {'roles':<14} {'uses':<28} {'expires':<10}  footage")
    for r in rows:
        print(
            f"{r['actor']:<14} {r['status']:<8} {','.join(r['roles']) or '-':<14} "
            f"{','.join(r['uses']) or '-':<28} {r['expires'] or 'never':<10}  "
            f"{r['accepted']} accepted, {r['rejected']} rejected, {r['purged']} purged"
        )
    return 0


def _consent_revoke(args: argparse.Namespace) -> int:
    from unmask.forge.ledger import Ledger

    with Ledger.open(_workspace(args)) as ledger:
        event = ledger.revoke(args.actor, reason=args.reason)
    print(
        f"{event.actor_id}: consent revoked at {event.recorded_at}; builds will refuse this "
        "actor. Run `unmask forge purge` to delete everything made from their footage."
    )
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from unmask.forge.ingest import ingest_footage
    from unmask.forge.ledger import Ledger

    ws = _workspace(args)
    rejected = 0
    with Ledger.open(ws) as ledger:
        for path in args.files:
            record = ingest_footage(ledger, ws, args.actor, path, max_frames=args.max_frames)
            if record.status == "accepted":
                stats = record.stats
                print(
                    f"accepted {path} as {record.footage_id} ({record.kind}, {record.width}x"
                    f"{record.height}, face {stats.get('face_px', 0):.0f} px, landmarks in "
                    f"{stats.get('landmark_fraction', 0):.0%} of {record.n_frames} frames)"
                )
            else:
                rejected += 1
                print(f"rejected {path}: {record.reason}", file=sys.stderr)
    return 1 if rejected else 0


def _build(args: argparse.Namespace) -> int:
    from unmask.errors import TasksFailedError
    from unmask.forge.builder import BuildReport, build_dataset
    from unmask.forge.spec import load_spec
    from unmask.scale import run_options_problem

    problem = run_options_problem(
        workers=args.workers, cluster=args.cluster, retries=args.retries, flags=True
    )
    if problem:
        raise ConfigError(problem)
    spec = load_spec(args.spec)
    try:
        report = build_dataset(
            spec,
            args.out,
            workspace=_workspace(args),
            workers=args.workers,
            cluster=args.cluster,
            retries=args.retries,
        )
    except TasksFailedError as err:  # print what was built, then the one-line error
        if isinstance(err.result, BuildReport):
            _print_report(err.result, as_json=args.json)
        raise
    _print_report(report, as_json=args.json)
    return 0


def _print_report(report: Any, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    print(
        f"{report.out}: {report.planned} videos ({report.made} made now, {report.skipped} "
        f"already complete{f', {len(report.failures)} failed' if report.failures else ''}) "
        f"in {report.elapsed_s:.1f} s"
    )
    for split, methods in report.counts.items():
        print(f"  {split:<13} " + ", ".join(f"{m} {n}" for m, n in methods.items()))
    for method, rel in report.contact_sheets.items():
        print(f"  contact sheet {method}: {report.out / rel}")
    for note in report.notes:
        print(f"  note: {note}")


def _purge(args: argparse.Namespace) -> int:
    from unmask.forge.purge import purge

    reports = purge(_workspace(args), actor_id=args.actor, datasets=args.dataset)
    if not reports:
        print("nothing to purge: no revoked actor has anything left")
    for r in reports:
        print(
            f"{r.actor_id}: purged {r.files_deleted} files and {r.rows_removed} index rows in "
            f"{r.datasets} datasets, {r.footage_deleted} footage files, "
            f"{r.cache_folders_deleted} cache folders"
        )
        for missing in r.missing_datasets:
            print(
                f"warning: {missing} held files of {r.actor_id} but is no longer there; if it "
                f"was moved, run `unmask forge purge --actor {r.actor_id} --dataset NEW_PATH`",
                file=sys.stderr,
            )
    return 0


def _audit(args: argparse.Namespace) -> int:
    from unmask.forge.ledger import Ledger

    with Ledger.open(_workspace(args)) as ledger:
        entries = ledger.audit_log(args.actor)
    for e in entries:
        if args.json:
            print(
                json.dumps(
                    {
                        "seq": e.seq,
                        "at": e.at,
                        "action": e.action,
                        "actor_id": e.actor_id,
                        "detail": e.detail,
                    }
                )
            )
        else:
            detail = " ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
            print(f"{e.seq:>5} {e.at} {e.action:<17} {e.actor_id or '-':<13} {detail}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from unmask.forge.perturbations import get_perturbation, list_perturbations

    try:
        from unmask.forge.methods import create_method, list_methods
    except ImportError as err:
        raise ConfigError(f"forge methods are not available ({err})") from None
    print("methods:")
    for name in list_methods():
        spec = create_method(name).spec
        source = "target + source" if spec.needs_source else "target only"
        print(f"  {name:<20} {source:<16} {spec.description}")
    print("perturbations (parameter defaults; [lo, hi] is a range drawn per video):")
    for name in list_perturbations():
        p = get_perturbation(name)
        params = ", ".join(f"{k}={v}" for k, v in sorted(p.defaults.items()))
        print(f"  {name:<20} {params}")
        print(f"  {'':<20} {p.description}")
    return 0
