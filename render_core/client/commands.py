"""The job commands of ``c3-render``: submit, status, result, cancel, jobs.

Exit codes: 0 success; 1 the job failed, timed out, was cancelled or expired, or has no result
(the error is printed); 2 usage errors, errors answered by the API and connection errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .api import TERMINAL, RenderClient
from .errors import ApiError, ClientError
from .progress import progress_for
from .settings import DEFAULT_URL, KEY, URL

OK, JOB_FAILED, USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad command-line input; the message says what to write instead."""


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=URL.read(), help=f"API base URL ({URL.name}; default {DEFAULT_URL})")
    parser.add_argument("--key", default=KEY.read(), help=f"API key ({KEY.name})")


def run(handler, args: argparse.Namespace) -> int:
    """Run a job command, turning errors into messages and exit codes."""
    try:
        return handler(RenderClient(args.url, args.key), args)
    except UsageError as exc:
        print(f"c3-render: {exc}", file=sys.stderr)
        return USAGE
    except ApiError as exc:
        print(f"c3-render: {exc}", file=sys.stderr)
        for problem in exc.body.get("errors") or []:
            print(f"  {problem.get('field')}: {problem.get('message')}", file=sys.stderr)
        return USAGE
    except ClientError as exc:
        print(f"c3-render: {exc}", file=sys.stderr)
        return USAGE
    except OSError as exc:
        print(f"c3-render: {exc}", file=sys.stderr)
        return USAGE


def build_body(args: argparse.Namespace) -> dict:
    """The request body from ``--json`` then ``--field k=v`` (string) / ``k:=json`` (JSON value)."""
    body: dict = {}
    if args.json:
        try:
            body = json.loads(args.json)
        except ValueError as exc:
            raise UsageError(f"--json is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise UsageError("--json must be a JSON object")
    for item in args.field or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--field {item!r}: write name=value (a string) or name:=value (JSON)")
        if name.endswith(":"):
            try:
                body[name[:-1]] = json.loads(value)
            except ValueError:
                raise UsageError(f"--field {item!r}: the value after := must be JSON") from None
        else:
            body[name] = value
    return body


def cmd_submit(client: RenderClient, args: argparse.Namespace) -> int:
    body = build_body(args)
    for item in args.file or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--file {item!r}: write field=PATH")
        if not Path(path).is_file():
            raise UsageError(f"--file {name}: {path} is not a file")
        print(f"uploading {path} ...", file=sys.stderr, flush=True)
        body[name] = client.upload(path)
    queued = client.submit(args.task, body, idempotency_key=args.idempotency_key)
    if not args.wait:
        print(queued["id"])
        return OK
    return _wait_and_show(client, queued["id"], args)


def _wait_and_show(client: RenderClient, job_id: str, args: argparse.Namespace) -> int:
    print(f"job {job_id}", file=sys.stderr, flush=True)
    progress = progress_for(job_id, sys.stdout.isatty())
    try:
        body = client.wait(job_id, timeout=args.timeout, on_update=progress.update)
    finally:
        progress.close()
    return _show_outcome(client, body, args.output)


def _show_outcome(client: RenderClient, body: dict, output: str | None) -> int:
    status = body["status"]
    if status not in TERMINAL:
        print(f"c3-render: job {body['id']} is still {status}; see `c3-render status {body['id']}`",
              file=sys.stderr)
        return JOB_FAILED
    if status != "success":
        print(f"c3-render: job {body['id']} {status}: {body.get('error') or 'no error message'}", file=sys.stderr)
        return JOB_FAILED
    result = body.get("result") or client.result(body["id"])
    if "result_url" in result:
        if output:
            path = client.download(result["result_url"], output)
            print(f"saved {path}", file=sys.stderr)
        else:
            print(result["result_url"])
    elif output:
        Path(output).write_text(result.get("text", ""), encoding="utf-8")
        print(f"saved {output}", file=sys.stderr)
    else:
        print(result.get("text", ""))
    return OK


def cmd_status(client: RenderClient, args: argparse.Namespace) -> int:
    body = client.status(args.id, wait=args.wait)
    print(json.dumps(body, indent=2))
    return JOB_FAILED if body["status"] in TERMINAL - {"success"} else OK


def cmd_result(client: RenderClient, args: argparse.Namespace) -> int:
    if args.wait:
        return _wait_and_show(client, args.id, args)
    return _show_outcome(client, client.status(args.id), args.output)


def cmd_cancel(client: RenderClient, args: argparse.Namespace) -> int:
    try:
        client.cancel(args.id, remove_data=args.remove_data)
    except ApiError as exc:
        if exc.status == 409:
            print(f"c3-render: job {args.id} is already {exc.body.get('status')}", file=sys.stderr)
            return JOB_FAILED
        raise
    print(f"job {args.id} cancelled" + (" and removed" if args.remove_data else ""), file=sys.stderr)
    return OK


def cmd_jobs(client: RenderClient, args: argparse.Namespace) -> int:
    filters = {"status": args.status, "type": args.type, "created_after": args.created_after,
               "created_before": args.created_before, "owner": args.owner}
    if args.all:
        jobs = list(client.iter_jobs(**filters))
    else:
        jobs = client.jobs(limit=args.limit, **filters)["jobs"]
    if args.json:
        print(json.dumps(jobs, indent=2))
        return OK
    for job in jobs:
        progress = f"{100 * job['progress']:.0f}%" if job.get("progress") is not None else "-"
        print(f"{job['id']}  {job.get('created_at', '-'):<27}  {job['type']:<10}  {job['status']:<9}  {progress}")
    return OK


def add_commands(commands) -> None:
    """Add submit, status, result, cancel and jobs to the ``c3-render`` sub-command parsers."""
    submit = commands.add_parser("submit", help="submit a job (optionally wait and fetch the result)")
    submit.add_argument("task", help="task name, e.g. whisper")
    submit.add_argument("--json", help="the request body as a JSON object")
    submit.add_argument("--field", action="append", metavar="NAME=VALUE",
                        help="a body field: name=string or name:=json (repeatable)")
    submit.add_argument("--file", action="append", metavar="FIELD=PATH",
                        help="upload a local file and pass its URL as FIELD (repeatable)")
    submit.add_argument("--wait", action="store_true", help="wait for the job, show progress, print the result")
    submit.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
    submit.add_argument("-o", "--output", help="save the result (media or text) to this file")
    submit.add_argument("--idempotency-key", help="reuse a key to make a retried submit return the same job")
    submit.set_defaults(job_command=cmd_submit)
    status = commands.add_parser("status", help="show a job's status")
    status.add_argument("id")
    status.add_argument("--wait", type=int, metavar="SECONDS", help="hold the answer up to 60 s until the job ends")
    status.set_defaults(job_command=cmd_status)
    result = commands.add_parser("result", help="print a job's text result or download its media")
    result.add_argument("id")
    result.add_argument("-o", "--output", help="save the result to this file")
    result.add_argument("--wait", action="store_true", help="wait for the job first")
    result.add_argument("--timeout", type=float, help="give up waiting after this many seconds")
    result.set_defaults(job_command=cmd_result)
    cancel = commands.add_parser("cancel", help="cancel a queued or running job")
    cancel.add_argument("id")
    cancel.add_argument("--remove-data", action="store_true", help="also delete the job and its stored result")
    cancel.set_defaults(job_command=cmd_cancel)
    jobs = commands.add_parser("jobs", help="list your jobs, newest first")
    jobs.add_argument("--status", help="comma-separated statuses, e.g. running,queued")
    jobs.add_argument("--type", help="comma-separated task names")
    jobs.add_argument("--created-after", help="ISO 8601 time or unix seconds")
    jobs.add_argument("--created-before", help="ISO 8601 time or unix seconds")
    jobs.add_argument("--owner", help="(admin keys) one key name's jobs")
    jobs.add_argument("--limit", type=int, default=20, help="jobs to show (1-100; default %(default)s)")
    jobs.add_argument("--all", action="store_true", help="follow the cursor to the last job")
    jobs.add_argument("--json", action="store_true", help="print the status bodies as JSON")
    jobs.set_defaults(job_command=cmd_jobs)
    for parser in (submit, status, result, cancel, jobs):
        add_connection_options(parser)
