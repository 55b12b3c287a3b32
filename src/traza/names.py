"""Readable run names (``calm-heron-417``) for runs started without one, as MLflow's UI shows."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "amber agile bold brave bright brisk calm clever cosmic crisp curious daring deft eager "
    "earnest fleet gentle glad golden grand hardy honest jolly keen kind lively lucid merry "
    "mighty misty modest nimble noble polite proud quick quiet rapid rare regal rustic serene "
    "sharp shy silent sleek smart snowy solid spry steady stellar sunny swift tidy upbeat vivid "
    "warm wise witty zesty"
).split()
_NOUNS = (
    "badger bear beaver bison crane crow deer dove eagle egret falcon ferret finch fox gecko "
    "goose hare hawk heron ibex jay kestrel koala lark lemur lion lynx marten mole moose newt "
    "otter owl panda pike puffin quail raven robin seal shark shrew sloth snail sparrow stork "
    "swan tapir tern tiger toad trout turtle viper vole whale wolf wren yak zebra"
).split()

_rng = random.Random()


def generate_run_name() -> str:
    return f"{_rng.choice(_ADJECTIVES)}-{_rng.choice(_NOUNS)}-{_rng.randrange(1000)}"
