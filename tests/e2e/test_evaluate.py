"""evaluate: every metric for every method, as a table, CSV and plot."""

import csv
import io

import numpy as np

from camlens.metrics.evaluation import RANDOM, evaluate, format_table, plot_curves, write_csv
from support.models import SIZE, functional_resnet, images


def small_evaluation():
    masks = np.zeros((3, SIZE, SIZE), bool)
    masks[:, 2:8, 3:9] = True
    return evaluate(
        functional_resnet(),
        images(3, seed=5),
        methods=("gradcam", "eigencam"),
        masks=masks,
        layer="conv1",
        steps=4,
        randomization_images=2,
    )


def test_rows_for_each_method_and_random_maps():
    result = small_evaluation()
    assert [row.method for row in result.rows] == ["gradcam", "eigencam", RANDOM]
    for row in result.rows:
        assert 0 <= row.pointing_game <= 1 and 0 <= row.energy_pointing_game <= 1
        assert 0 <= row.deletion_auc <= 1 and 0 <= row.insertion_auc <= 1
        assert row.seconds_per_image > 0
        assert -1 <= row.road <= 1 and 0 <= row.sparseness <= 1
        assert 0 <= row.complexity <= np.log(SIZE * SIZE)  # conv1 keeps the 12 x 12 grid
    gradcam, eigencam, chance = result.rows
    assert gradcam.randomization_passed and not eigencam.randomization_passed
    assert chance.randomization_passed is None and chance.max_sensitivity is None
    assert gradcam.max_sensitivity > 0
    assert set(result.road_scores) == {"gradcam", "eigencam", RANDOM}


def test_table_csv_and_plot():
    result = small_evaluation()
    table = format_table(result)
    assert table.count("\n") == 2 + len(result.rows) - 1 and "FAIL" in table

    stream = io.StringIO()
    write_csv(result, stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert [r["method"] for r in rows] == ["gradcam", "eigencam", RANDOM]
    assert float(rows[0]["deletion_auc"]) == result.rows[0].deletion_auc

    png = io.BytesIO()
    plot_curves(result).savefig(png, format="png")
    assert png.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
