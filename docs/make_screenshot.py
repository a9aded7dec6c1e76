"""Make the README's pictures of the lab with the lab's own screenshot function.

    python docs/make_screenshot.py        # writes docs/lab.svg, docs/lab-80x24.svg and docs/inside.svg

The reverse task (8 tokens, 2 layers, 2 heads, Adam), trained 6 epochs with the n key:
the last layer's attention has formed its anti-diagonal. docs/inside.svg then shows the
instruments inside the model: the heads table (o), the logit lens (l), the embedding space (e).
"""

from __future__ import annotations

import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tfnp_tui.app import TfnpLab  # noqa: E402
from tfnp_tui.cli import build, build_parser  # noqa: E402

ARGV = ["--task", "reverse", "--seq-len", "8", "--layers", "2", "--heads", "2", "--optimizer", "adam"]
HERE = os.path.dirname(os.path.abspath(__file__))


async def shoot(size: tuple[int, int], filename: str, keys: tuple[str, ...] = ()) -> None:
    app = TfnpLab(build(build_parser().parse_args(ARGV)))
    async with app.run_test(size=size) as pilot:
        for key in ("n",) * 6 + keys:
            await pilot.press(key)
            app.session.join()  # the epoch, or what the key started, is done
            await app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.pause()
        app.save_screenshot(filename=filename, path=HERE)
    print(os.path.join(HERE, filename))


if __name__ == "__main__":
    asyncio.run(shoot((120, 40), "lab.svg"))
    asyncio.run(shoot((80, 24), "lab-80x24.svg"))
    asyncio.run(shoot((120, 40), "inside.svg", ("o", "l", "e")))
