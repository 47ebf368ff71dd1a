"""Texts of generated posts: sentences from a theme's words, markup, hashtags, mentions and links."""

from __future__ import annotations

import random

from kith_devkit.generator.plan import PlannedCommunity
from kith_devkit.generator.vocabulary import ADJECTIVES, FOREIGN, LINKS, PLACES, POST_SENTENCES, TITLES, WHEN, Theme
from kith_devkit.generator.world import member_id


def sentence(rng: random.Random, theme: Theme, community: PlannedCommunity) -> str:
    """Return one sentence about a theme."""
    return rng.choice(POST_SENTENCES).format(
        doing=rng.choice(theme.doings), when=rng.choice(WHEN), adj=rng.choice(ADJECTIVES),
        noun=rng.choice(theme.nouns), place=rng.choice((*PLACES, community.city)),
    )  # fmt: skip


def post_text(
    rng: random.Random, theme: Theme, community: PlannedCommunity, people: list[int], author: int, followees: list[int]
) -> tuple[str, str, list[str]]:
    """Return a post's title, text (some with markup, hashtags, a mention or a link) and tags."""
    noun = rng.choice(theme.nouns)
    title = rng.choice(TITLES).format(Noun=noun.capitalize(), noun=noun, when=rng.choice(WHEN))
    if rng.random() < 0.05:
        sentences = [rng.choice(FOREIGN).format(noun=noun)]
    else:
        sentences = [sentence(rng, theme, community) for _ in range(rng.randint(1, 3))]
    markup = rng.random() < 0.2
    extras: list[str] = []
    topics = community.topics
    if rng.random() < 0.5:
        extras.extend(f"#{tag}" for tag in rng.sample(topics, min(len(topics), rng.randint(1, 2))))
    if rng.random() < 0.25:
        others = followees or people
        mentioned = rng.choice(others)
        if mentioned != author:
            extras.append(f"@{member_id(mentioned)}")
    link = None
    if rng.random() < 0.15:
        slug = f"{rng.getrandbits(40):010x}"
        link = rng.choice(LINKS).format(slug=slug, tag=theme.tag, Tag=theme.tag.capitalize())
    if markup:
        bold = sentences[0].replace(noun, f"<b>{noun}</b>", 1)
        body = "".join(f"<p>{s}</p>" for s in [bold, *sentences[1:]])
        if link is not None:
            body += f'<p>More here: <a href="{link}">{link}</a></p>'
        if extras:
            body += f"<p>{' '.join(extras)}</p>"
        text = body.replace(" & ", " &amp; ")
    else:
        parts = [*sentences]
        if link is not None:
            parts.append(link)
        parts.extend(extras)
        text = " ".join(parts)
    tags = list(dict.fromkeys(rng.sample(topics, min(len(topics), rng.randint(1, 3)))))
    return title, text, tags
