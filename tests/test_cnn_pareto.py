"""cnn.pareto: cost matching, the Pareto front, and labels that never overlap (boxes measured by
matplotlib's renderer on a crowded plot)."""

import json

import numpy as np

from cnn import pareto
from cnn.accuracy import ALL_MULTS


def crowded(tmp_path, models=("resnet", "mobilenet")):
    """Every multiplier with a cost; energies and accuracies packed close together."""
    rng = np.random.default_rng(4)
    costs, records = [], []
    for i, name in enumerate(m for m in ALL_MULTS if m != "fp32"):
        unit, params = pareto.cost_key(name)
        costs.append({"unit": unit, "params": params, "stream": "cnn",
                      "energy_pj_per_op": float(20 + 3 * (i % 9) + rng.uniform(0, 1))})
        for model in models:
            acc = float(0.9 + rng.uniform(0, 0.01))
            records.append({"model": model, "mult": name, "top1": acc,
                            "top1_ci": [acc - 0.005, acc + 0.005]})
    path = tmp_path / "costs.json"
    path.write_text(json.dumps(costs))
    doc = {"records": records, "run": {"dataset": "fashion-mnist",
                                       "models": [{"name": m} for m in models]}}
    return doc, path


def test_labels_do_not_overlap(tmp_path):
    doc, costs = crowded(tmp_path)
    out = tmp_path / "accuracy_energy.png"
    labels = pareto.plot_pareto(doc, costs, out, log=lambda *_: None)
    assert out.stat().st_size > 5000 and set(labels) == {"resnet", "mobilenet"}
    from matplotlib.text import Text
    for model, placed in labels.items():
        fig = placed[0][0].figure
        fig.canvas.draw()           # measured again, independently, on the finished figure
        boxes = [Text.get_window_extent(ann) for ann, _ in placed]
        assert all(fig.bbox.contains(b.x0, b.y0) and fig.bbox.contains(b.x1, b.y1) for b in boxes)
        assert len(boxes) == len(ALL_MULTS) - 1
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert not boxes[i].overlaps(boxes[j]), (model, placed[i][0].get_text(),
                                                         placed[j][0].get_text())
        # no label covers a data point
        for (ann, _), box in zip(placed, boxes):
            for other, _ in placed:
                x, y = other.axes.transData.transform(other.xy)
                assert not box.overlaps(type(box).from_extents(x - 2, y - 2, x + 2, y + 2)), (
                    ann.get_text(), other.get_text())


def test_naive_offsets_would_overlap(tmp_path):
    """The crowded case is a real test: the old fixed offset (3, 2) points overlaps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    doc, costs = crowded(tmp_path, models=("resnet",))
    pts = pareto.pareto_points(doc["records"], pareto.load_records(costs), "resnet")
    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=120)
    ax.plot([p[1] for p in pts], [100 * p[2] for p in pts], "o")
    r = fig.canvas.get_renderer()
    boxes = [ax.annotate(p[0], (p[1], 100 * p[2]), xytext=(3, 2), textcoords="offset points",
                         fontsize=6).get_window_extent(r) for p in pts]
    plt.close(fig)
    assert any(boxes[i].overlaps(boxes[j]) for i in range(len(boxes))
               for j in range(i + 1, len(boxes)))


def test_front_and_stream_preference():
    assert pareto.front([("a", 1, 0.9, ""), ("b", 2, 0.8, ""), ("c", 3, 0.95, "")]) == [
        ("a", 1, 0.9, ""), ("c", 3, 0.95, "")]
    costs = [{"unit": "bf16_mac", "params": {}, "stream": "uniform", "energy_pj_per_op": 9.0},
             {"unit": "bf16_mac", "params": {}, "stream": "trace:x.npz", "energy_pj_per_op": 5.0},
             {"unit": "bf16_mac", "params": {}, "stream": "cnn", "energy_pj_per_op": 7.0}]
    assert pareto.match(costs, "bf16")["energy_pj_per_op"] == 5.0
    assert pareto.match(costs, "fp32") is None and pareto.match(costs, "bf16+fp32_add") is None
