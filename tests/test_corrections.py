"""The corrections page (docs/corrections/index.md) covers every error the site found in the posts.

It is checked against the two places that list those errors: the "What it gets wrong" bullets of
docs/sources.md and the "Common misconception" boxes of the chapters. Pure text, no build.
"""

import re
from collections import Counter
from functools import cache
from pathlib import Path

from conftest import ROOT
from markdown.extensions.toc import slugify  # the toc extension's default, as in mkdocs.yml

DOCS = ROOT / "docs"
PAGE = DOCS / "corrections" / "index.md"
SOURCES = DOCS / "sources.md"
CHAPTERS = sorted(DOCS.glob("[0-9][0-9]-*/index.md"))

LINK = re.compile(r"\]\(([^)\s]+)\)")
POST_LINK = re.compile(r"\.\./sources\.md#(post-[1-5])\b")
# a demonstration: a chapter, a lab or the explorer, as linked from docs/corrections/
DEMO = re.compile(r"^\.\./(?:\d\d-[\w-]+/index\.md|labs/[\w.-]+|explorer/index\.md)")
BOX = re.compile(r'^\s*(?:!!!|\?\?\?\+?) warning "Common misconception')
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*$")
HEADING_ID = re.compile(r"\s*\{\s*#([\w-]+)[^}]*\}\s*$")
ATTR_ID = re.compile(r"\{:?\s*#([\w-]+)[^}]*\}")  # attr_list on a paragraph: { #id }
HTML_ID = re.compile(r'\bid="([^"]+)"')
# a measured or exact number quoted in math: 0.113, 7.45 \times 10^{-9}, 10^{-3}
NUMBER = re.compile(r"\d+\.\d+(?:\s*\\times\s*10\^\{-?\d+\})?|10\^\{-?\d+\}")


def text_lines(path: Path) -> list[str]:
    """The file's lines, with the lines of fenced code blanked (line numbers kept)."""
    lines, fence = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        marker = re.match(r"\s*(```|~~~)", line)
        if marker and fence is None:
            fence = marker.group(1)
            lines.append("")
        elif marker and marker.group(1) == fence:
            fence = None
            lines.append("")
        else:
            lines.append("" if fence else line)
    return lines


@cache
def anchors(path: Path) -> tuple[tuple[int, str, bool], ...]:
    """(line index, anchor, is a heading) for every anchor of a page, in order."""
    found = []
    for i, line in enumerate(text_lines(path)):
        if heading := HEADING.match(line):
            title = heading.group(1)
            explicit = HEADING_ID.search(title)
            found.append((i, explicit.group(1) if explicit else slugify(title, "-"), True))
            continue
        found += [(i, a, False) for a in HTML_ID.findall(line) + ATTR_ID.findall(line)]
    return tuple(found)


@cache
def wrong_bullets() -> dict[str, list[str]]:
    """sources.md: for each post, the bullets of its "What it gets wrong" list."""
    parts = re.split(r"^## .*\{#(post-\d)\}\s*$", SOURCES.read_text(encoding="utf-8"), flags=re.M)
    bullets = {}
    for post, body in zip(parts[1::2], parts[2::2], strict=True):
        wrong = body.split("**What it gets wrong.**", 1)[1]
        wrong = re.split(r"^(?:## |\?\?\? |!!! )", wrong, flags=re.M)[0]
        bullets[post] = re.split(r"^- ", wrong, flags=re.M)[1:]
    return bullets


@cache
def rows() -> tuple[tuple[str, ...], ...]:
    """The body rows of every table on the page, as tuples of cells."""
    lines, found = text_lines(PAGE), []
    for i, line in enumerate(lines[:-1]):
        if line.startswith("|") and re.fullmatch(r"\|(?:\s*:?-+:?\s*\|)+", lines[i + 1]):
            header = split_row(line)
            assert header == ("The claim", "What is right", "Shown in"), line
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                found.append(split_row(row))
    return tuple(found)


def split_row(line: str) -> tuple[str, ...]:
    return tuple(cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1])


def page_links() -> list[str]:
    return LINK.findall(PAGE.read_text(encoding="utf-8"))


def links_to(link: str, links) -> bool:
    """A link with an anchor must be on the page as it is; one without, to the same file."""
    if "#" in link:
        return link in links
    return any(re.split(r"[#?]", other)[0] == link for other in links)


def test_every_row_has_three_cells():
    assert len(rows()) >= 40
    for row in rows():
        assert len(row) == 3, f"a row with {len(row)} cells (a stray |?): {row}"


def test_every_demonstration_of_the_sources_page_is_linked():
    links = page_links()
    demos = [
        "../" + link
        for bullets in wrong_bullets().values()
        for bullet in bullets
        for link in LINK.findall(bullet)
        if DEMO.match("../" + link)
    ]
    assert len(demos) >= 30, "the sources page's lists were not parsed"
    missing = sorted({link for link in demos if not links_to(link, links)})
    assert not missing, f"demonstrations in sources.md that the page does not link: {missing}"


def test_every_bullet_of_the_sources_page_has_an_entry_citing_its_post():
    """Not just linked somewhere: linked from a row that names the post the bullet is about."""
    missing = []
    for post, bullets in wrong_bullets().items():
        linked = [LINK.findall(" ".join(r)) for r in rows() if post in POST_LINK.findall(r[0])]
        for bullet in bullets:
            demos = ["../" + link for link in LINK.findall(bullet) if DEMO.match("../" + link)]
            if demos and not any(links_to(d, links) for d in demos for links in linked):
                missing.append(f"{post}: {bullet[:70]!r} ({demos})")
    assert not missing, "bullets with no entry that cites their post:\n" + "\n".join(missing)


def misconception_boxes():
    """(chapter, box line, the anchors of the section holding it, the posts the box cites)."""
    for chapter in CHAPTERS:
        lines = text_lines(chapter)
        for i, line in enumerate(lines):
            if not BOX.match(line):
                continue
            before = [a for a in anchors(chapter) if a[0] < i]
            section = max(j for j, (_, _, is_heading) in enumerate(before) if is_heading)
            names = {anchor for _, anchor, _ in before[section:]}  # the heading, anchors after it
            indent = len(line) - len(line.lstrip())
            body = []
            for rest in lines[i + 1 :]:
                if rest.strip() and len(rest) - len(rest.lstrip()) <= indent:
                    break
                body.append(rest)
            posts = set(re.findall(r"sources\.md#(post-[1-5])\b", "\n".join(body)))
            yield chapter, line.strip(), names, posts


def test_every_misconception_box_is_represented():
    boxes = list(misconception_boxes())
    assert len(boxes) >= 30, "the chapters' boxes were not found"
    links = page_links()
    missing = []
    for chapter, box, names, posts in boxes:
        targets = {f"../{chapter.parent.name}/index.md#{name}" for name in names}
        if posts:  # a row that cites every post the box cites and links the box's section
            ok = any(
                posts <= set(POST_LINK.findall(" ".join(row)))
                and targets & set(LINK.findall(" ".join(row)))
                for row in rows()
            )
        else:  # a belief the posts do not state: linked from the page
            ok = bool(targets & set(links))
        if not ok:
            missing.append(f"{chapter.parent.name}: {box} ({sorted(posts)}, {sorted(targets)})")
    assert not missing, "boxes the page does not represent:\n" + "\n".join(missing)


def test_every_row_cites_a_post_and_a_demonstration():
    for row in rows():
        assert POST_LINK.search(row[0]), f"no post cited in the claim: {row[0]}"
        assert any(DEMO.match(link) for link in LINK.findall(row[2])), f"nothing shown: {row}"


def test_every_post_has_at_least_as_many_entries_as_sources_lists():
    entries = Counter(post for row in rows() for post in set(POST_LINK.findall(" ".join(row))))
    bullets = {post: len(items) for post, items in wrong_bullets().items()}
    assert sorted(bullets) == [f"post-{n}" for n in range(1, 6)]
    short = {post: (entries[post], n) for post, n in bullets.items() if entries[post] < n}
    assert not short, f"entries on the page, bullets in sources.md: {short}"


def test_every_link_on_the_page_resolves():
    for link in page_links():
        assert not re.match(r"\w+:", link), f"an external link: {link}"
        path, _, anchor = re.split(r"\?[^#]*", link)[0].partition("#")
        target = (PAGE.parent / path).resolve() if path else PAGE
        assert target.is_file(), f"no file for {link}"
        if anchor:
            assert anchor in {a for _, a, _ in anchors(target)}, f"no anchor for {link}"


@cache
def math_of(path: Path) -> str:
    """The math of a page, where a chapter states its numbers: paragraph by paragraph (no code),
    so that a stray dollar sign cannot turn prose into math."""
    paragraphs = re.split(r"\n\s*\n", "\n".join(text_lines(path)))
    return " | ".join(
        m for p in paragraphs for m in re.findall(r"\$([^$]+)\$", " ".join(p.split()))
    )


def test_numbers_are_those_of_the_linked_chapters():
    """A number quoted in "What is right" is stated, in math, by a chapter the row links: if the
    chapter's experiment changes, this page must change with it."""
    for claim, right, shown in rows():
        chapters = {
            (PAGE.parent / link.split("#")[0]).resolve()
            for link in LINK.findall(shown)
            if re.match(r"\.\./\d\d-", link)
        }
        texts = [math_of(path) for path in chapters]
        for math in re.findall(r"\$([^$]+)\$", right):
            for number in NUMBER.findall(math):
                whole = r"(?<![\d.])" + re.escape(" ".join(number.split())) + r"(?![\d}])"
                assert any(re.search(whole, text) for text in texts), f"{number}: {chapters}"
