"""Card rendering speed: our renderer against Microsoft's engine, measured in the same run.

    python bench/bench_cards.py [--seconds 0.5]

Renders the example transfer card (cards/templates/transfer.json), a card repeating a 50-row
`$data` list and a card calling functions of several families (time zones, dates, strings,
lambdas, regular expressions, URIs), in Python with `CompiledTemplate.expand` and in node with
adaptivecards-templating 2.3.1 (`new Template(t)` once, `expand` per render, as the Designer's
engine is used). Each side times its own loop after a warm-up and reports the best of several
batches; the ratio is ours divided by Microsoft's (below 1.0: we are faster). The target is a
ratio of at most 1 for every card: no card may render slower than in Microsoft's engine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cards import compile_template, nest  # noqa: E402

TRANSFER = json.loads((ROOT / "cards" / "templates" / "transfer.json").read_text(encoding="utf-8"))
TRANSFER_DATA = nest(
    {
        "Session.TransferredTo.TenantName": "Human Resources",
        "Session.TransferredFrom.TenantName": "IT Help Desk",
        "Guest.Question": "How do I update the bank account my salary is paid into?",
    }
)
ROWS = {
    "type": "AdaptiveCard",
    "version": "1.5",
    "body": [
        {"type": "TextBlock", "text": "Open tickets for ${Guest.Name}", "weight": "Bolder"},
        {
            "type": "ColumnSet",
            "$data": "${Session.Tickets}",
            "columns": [
                {
                    "type": "Column",
                    "items": [
                        {"type": "TextBlock", "text": "${$index + 1}. ${Title}", "wrap": True},
                        {
                            "type": "TextBlock",
                            "text": "${Owner.Name} · ${Status}",
                            "isSubtle": True,
                        },
                    ],
                },
                {
                    "type": "Column",
                    "width": "auto",
                    "items": [{"type": "TextBlock", "text": "${formatNumber(Cost, 2)}"}],
                },
            ],
        },
    ],
}
ROWS_DATA = {
    "Guest": {"Name": "Zoë"},
    "Session": {
        "Tickets": [
            {
                "Title": f"Ticket {number}",
                "Owner": {"Name": f"Agent {number % 7}"},
                "Status": "open" if number % 3 else "waiting",
                "Cost": number * 12.5,
            }
            for number in range(50)
        ]
    },
}
FUNCTIONS = {
    "type": "AdaptiveCard",
    "version": "1.5",
    "body": [
        {"type": "TextBlock", "text": "${titleCase(Guest.Name)}, welcome to ${Session.TenantName}"},
        {
            "type": "TextBlock",
            "text": "Started ${convertFromUTC(Session.StartedUtc, Guest.Timezone, 'h:mm tt')}"
            " (${getTimeOfDay(Session.StartedUtc)}), your ${addOrdinal(Session.Visits)} visit",
        },
        {"type": "TextBlock", "text": "Due ${addToTime(Session.StartedUtc, 3, 'Day', 'dddd')}"},
        {"type": "TextBlock", "text": "${count(where(Session.Tickets, t, t.Open))} open tickets"},
        {"type": "TextBlock", "text": "${join(sortBy(select(Session.Tickets, t, t.Title)), ', ')}"},
        {"type": "TextBlock", "text": "Total ${formatNumber(sum(Session.Costs), 2)}"},
        {
            "type": "TextBlock",
            "$when": "${isMatch(Guest.Email, '^[^@]+@contoso[.]com$')}",
            "text": "Staff at ${uriHost(Session.Portal)}",
        },
        {"type": "TextBlock", "text": "${toUpper(substring(Guest.Question, 0, 20))}"},
    ],
}
FUNCTIONS_DATA = nest(
    {
        "Guest.Name": "megan bowen",
        "Guest.Timezone": "America/Los_Angeles",
        "Guest.Email": "megan@contoso.com",
        "Guest.Question": "How do I update the bank account my salary is paid into?",
        "Session.TenantName": "Human Resources",
        "Session.StartedUtc": "2024-03-10T16:45:00.000Z",
        "Session.Visits": 3,
        "Session.Portal": "https://hr.contoso.com/help?q=salary",
        "Session.Costs": [12.5, 7.25, 100],
        "Session.Tickets": [
            {"Title": "Payslip", "Open": True},
            {"Title": "Bank details", "Open": False},
            {"Title": "Tax form", "Open": True},
        ],
    }
)
CASES = {
    "transfer card": (TRANSFER, TRANSFER_DATA),
    "50-row card": (ROWS, ROWS_DATA),
    "functions card": (FUNCTIONS, FUNCTIONS_DATA),
}

NODE_SCRIPT = r"""
const path = require('path');
const { Template } = require(path.join(process.cwd(), 'node_modules', 'adaptivecards-templating'));
const { cases, seconds } = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const results = {};
for (const [name, [template, data]] of Object.entries(cases)) {
  const compiled = new Template(template);
  const run = (n) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) compiled.expand({ $root: data });
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  let n = 1;
  while (run(n) < seconds / 10) n *= 2;  // warm-up and batch size
  let best = Infinity;
  for (let batch = 0; batch < 5; batch++) best = Math.min(best, run(n) / n);
  results[name] = best;
}
console.log(JSON.stringify(results));
"""


def time_python(render: Callable[[], Any], seconds: float) -> float:
    """Best seconds per call over five batches sized to about `seconds / 5` each."""

    def run(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            render()
        return time.perf_counter() - start

    count = 1
    while run(count) < seconds / 10:
        count *= 2
    return min(run(count) / count for _ in range(5))


def time_node(seconds: float) -> dict[str, float]:
    """Seconds per render of each case in Microsoft's engine (node's own timing loop)."""
    request = json.dumps({"cases": CASES, "seconds": seconds})
    result = subprocess.run(
        ["node", "-e", NODE_SCRIPT],
        input=request,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    timings: dict[str, float] = json.loads(result.stdout)
    return timings


def main() -> int:
    """Print per-render times of both engines and their ratio; exit 1 if a ratio exceeds 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="time budget per case")
    arguments = parser.parse_args()

    theirs = time_node(arguments.seconds)
    print(f"{'case':<16}{'ours':>12}{'Microsoft':>12}{'ratio':>8}")
    worst = 0.0
    for name, (template, data) in CASES.items():
        ours = time_python(
            partial(compile_template(template, name).expand, data), arguments.seconds
        )
        ratio = ours / theirs[name]
        worst = max(worst, ratio)
        print(f"{name:<16}{ours * 1e6:>10.1f}µs{theirs[name] * 1e6:>10.1f}µs{ratio:>8.2f}")
    print(f"target: at most 1x Microsoft's engine per card — {'met' if worst <= 1 else 'NOT met'}")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
