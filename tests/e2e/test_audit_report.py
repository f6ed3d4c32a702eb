"""The audit's report page in a real browser (headless Chromium driven by
Playwright), and its pictures."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

import camlens
from camlens.audit import read_records
from camlens.audit.report import overlay_png
from camlens.demo import CLASS_NAMES, load_demo_model
from support.audit_data import CORRUPT, write_demo_folder

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(
    os.environ.get("CAMLENS_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    folder = tmp_path_factory.mktemp("data")
    write_demo_folder(folder, 30, seed=11)
    summary = camlens.audit(
        load_demo_model(),
        folder / "labels.csv",
        tmp_path_factory.mktemp("audit") / "out",
        class_names=CLASS_NAMES,
        progress=False,
        concepts=3,
    )
    return summary.report, read_records(summary.out_dir).to_pandas()


@pytest.fixture(scope="module")
def page(report):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.problems = []
        page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
        page.on("pageerror", lambda e: page.problems.append(str(e)))
        page.on("requestfailed", lambda r: page.problems.append(f"failed: {r.url}"))
        page.goto(report[0].resolve().as_uri())
        page.wait_for_load_state("load")
        yield page
        browser.close()


def visible_cards(page, grid="gallery"):
    return page.eval_on_selector_all(
        f"#{grid} > figure",
        "cards => cards.filter(c => !c.hidden).map(c => ["
        "c.dataset.class, parseFloat(c.dataset.score), parseFloat(c.dataset.energy)])",
    )


def test_loads_without_errors_and_every_image_loads(page):
    assert page.problems == []
    broken = page.evaluate(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)"
    )
    assert page.evaluate("document.images.length") > 30 and broken == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "audit-report.png"), full_page=False)


def test_class_table_matches_the_records(page, report):
    _, records = report
    rows = records[records["error"].isna()]
    table = page.eval_on_selector_all(
        "#classes tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText))"
    )
    assert [r[0] for r in table] == [CLASS_NAMES[c] for c in sorted(rows["label"].unique())]
    for name, count, accuracy, *_ in table:
        group = rows[rows["label"] == CLASS_NAMES.index(name)]
        assert int(count) == len(group)
        assert float(accuracy) == pytest.approx(
            (group["predicted"] == group["label"]).mean(), abs=5e-4
        )
    failures = page.eval_on_selector_all("#failures li", "items => items.length")
    assert failures == len(CORRUPT)


def test_class_filter_shows_only_that_class(page, report):
    _, records = report
    everything = visible_cards(page)
    page.select_option("#class-filter", "2")
    shown = visible_cards(page)
    assert shown and {c for c, _, _ in shown} == {"2"}
    assert len(shown) == int((records["label"] == 2).sum()) < len(everything)
    clusters = page.eval_on_selector_all(
        ".cluster", "els => els.filter(e => !e.hidden).map(e => e.dataset.class)"
    )
    assert clusters and set(clusters) == {"2"}
    page.select_option("#class-filter", "")
    assert len(visible_cards(page)) == len(everything)


def test_concept_cards_per_class_sorted_by_importance(page, report):
    _, records = report
    intro = page.inner_text("#concepts-intro")
    assert "prediction" in intro and "label" not in intro  # target="top"
    sections = page.eval_on_selector_all(
        ".concepts",
        "els => els.map(e => [e.dataset.class, Array.from(e.querySelectorAll('.concept'))"
        ".map(c => parseFloat(c.dataset.share))])",
    )
    explained = records[records["error"].isna()]
    assert sorted(int(c) for c, _ in sections) == sorted(explained["predicted"].unique())
    for class_id, shares in sections:
        assert len(shares) == 3 and shares == sorted(shares, reverse=True)
        assert sum(abs(s) for s in shares) == pytest.approx(1, abs=1e-4)
        # the strongest images shown are images of that class
        shown = page.eval_on_selector_all(
            f".concepts[data-class='{class_id}'] .strongest",
            "els => els.map(e => parseInt(e.dataset.index))",
        )
        predicted = explained.set_index("index")["predicted"]
        assert shown and {int(predicted[i]) for i in shown} == {int(class_id)}
    page.select_option("#class-filter", "1")
    visible = page.eval_on_selector_all(
        ".concepts", "els => els.filter(e => !e.hidden).map(e => e.dataset.class)"
    )
    assert visible == ["1"]
    page.select_option("#class-filter", "")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".concepts").first.screenshot(path=str(ARTIFACTS / "audit-concepts.png"))


def test_map_of_the_maps_hover_shows_the_image_and_click_filters_the_gallery(page, report):
    _, records = report
    sections = page.eval_on_selector_all(".embedding", "els => els.map(e => e.dataset.class)")
    assert sorted(sections) == sorted(str(c) for c in records["label"].dropna().unique())
    dots = page.locator(".embedding circle")
    assert dots.count() == int(records["error"].isna().sum())  # every map, one point
    # points stay inside the picture
    inside = page.eval_on_selector_all(
        ".embedding circle",
        "ds => ds.every(d => d.cx.baseVal.value >= 0 && d.cx.baseVal.value <= 300 && "
        "d.cy.baseVal.value >= 0 && d.cy.baseVal.value <= 300)",
    )
    assert inside
    dot = dots.first
    dot.hover()
    tip = page.locator("#embedding-tip")
    assert tip.is_visible()
    assert tip.locator("img").get_attribute("src") == dot.get_attribute("data-picture")
    assert f"#{dot.get_attribute('data-index')} " in tip.inner_text()
    cluster = dot.get_attribute("data-cluster")
    gallery = page.locator("#gallery > figure")
    everything = gallery.count()
    dot.click()
    shown = page.eval_on_selector_all(
        "#gallery > figure",
        "cs => cs.filter(c => c.offsetParent !== null).map(c => c.dataset.cluster)",
    )
    assert shown and set(shown) == {cluster} and len(shown) < everything
    assert "cluster" in page.inner_text("#cluster-filter-status")
    dot.click()
    shown = page.eval_on_selector_all(
        "#gallery > figure", "cs => cs.filter(c => c.offsetParent !== null).length"
    )
    assert shown == everything
    page.mouse.move(0, 0)
    assert not tip.is_visible()


def test_sorting_reorders_the_gallery(page):
    before = visible_cards(page)
    page.select_option("#sort", "score-desc")
    scores = [s for _, s, _ in visible_cards(page)]
    assert scores == sorted(scores, reverse=True) and scores != [s for _, s, _ in before]
    page.select_option("#sort", "energy-asc")
    energies = [e for _, _, e in visible_cards(page)]
    assert energies == sorted(energies)
    worst = [e for _, _, e in visible_cards(page, "worst")]
    assert worst == sorted(worst) and np.max(worst) <= np.sort(energies)[len(worst) - 1] + 1e-9
    page.select_option("#sort", "index")
    assert visible_cards(page) == before


def test_pictures_lay_the_map_over_the_image_in_viridis_at_most_65_percent_opaque():
    import matplotlib
    from PIL import Image

    pixels = np.full((128, 128, 3), 100.0)
    heatmap = np.zeros((16, 16))
    heatmap[:, 8:] = 1.0  # cold left half, hot right half
    drawn = np.asarray(Image.open(io.BytesIO(overlay_png(pixels, heatmap))), np.float64)
    assert drawn.shape == (128, 128, 3)
    # Far from the edge (the resize filter reaches 3 cells, 24 pixels, across it):
    np.testing.assert_allclose(drawn[:, :32], 100, atol=1)  # a map of 0 leaves the image
    hottest = np.floor(255 * np.array(matplotlib.colormaps["viridis"](1.0)[:3]))
    alpha = int(0.65 * 255) / 255
    expected = alpha * hottest + (1 - alpha) * 100
    np.testing.assert_allclose(drawn[:, 96:], np.broadcast_to(expected, (128, 32, 3)), atol=2)
