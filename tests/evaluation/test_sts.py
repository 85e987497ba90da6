import numpy as np
import pytest

from conftest import write
from encoderkit.errors import DataError
from encoderkit.evaluation.sts import anisotropy, geometry, random_init_encoder, read_sts, sts_correlation

STS = (
    "main-captions\tMSRvid\t2012test\t0001\t5.000\tA man plays a guitar.\tA man is playing a guitar.\n"
    "main-captions\tMSRvid\t2012test\t0002\t0.500\tA cat sleeps.\tThe stock market fell.\textra\tfields\n"
    "main-news\theadlines\t2015\t0003\t3.000\tRain expected today.\tIt will rain today.\n"
    "main-news\theadlines\t2015\t0004\t1.000\tA dog runs.\tA chef cooks pasta.\n"
)


def test_read_sts_takes_columns_5_to_7(tmp_path):
    pairs = read_sts(write(tmp_path / "sts-test.csv", STS).parent, "test")
    assert len(pairs) == 4 and pairs[1].b == "The stock market fell." and pairs[1].score == 0.5
    with pytest.raises(DataError, match="sts-test.csv:1: expected at least 7"):
        read_sts(write(tmp_path / "bad" / "sts-test.csv", "a\tb\n"))


def test_anisotropy_extremes():
    same = np.ones((10, 4))
    assert anisotropy(same) == pytest.approx(1.0)
    eye = np.eye(8)
    assert anisotropy(eye) == pytest.approx(0.0)


def test_correlation_and_geometry_rows(tmp_path, tiny_encoder):
    pairs = read_sts(write(tmp_path / "sts-test.csv", STS))
    res = sts_correlation(tiny_encoder, pairs)
    assert -1 <= res["spearman"] <= 1 and res["n_pairs"] == 4 and res["pooling"] == "mean"
    rnd = random_init_encoder(tiny_encoder, seed=1)  # seed 0 would rebuild the tiny model itself
    rows = geometry([("tiny", tiny_encoder), ("random", rnd)], pairs, poolings=("cls", "mean"))
    assert [(r["model"], r["pooling"]) for r in rows] == [
        ("tiny", "cls"),
        ("tiny", "mean"),
        ("random", "cls"),
        ("random", "mean"),
    ]
    assert not np.allclose(rnd.encode(["x y z"]), tiny_encoder.encode(["x y z"]))


@pytest.mark.integration
def test_bundled_model_sts_b(minilm):
    from conftest import SHARED_DATA

    path = SHARED_DATA / "stsbenchmark"
    if not path.is_dir():
        pytest.skip("STS-B not available")
    res = sts_correlation(minilm, read_sts(path, "test"))
    assert res["spearman"] == pytest.approx(0.820, abs=0.01)  # published all-MiniLM-L6-v2 figure
