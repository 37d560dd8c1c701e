"""The evaluation suite's report in markdown: every table with the reference
paper's figure beside ours, and what each number does and does not show."""

from __future__ import annotations

import numpy as np

from likeness_eval.ablation import VARIANTS
from likeness_eval.fairness import FLAG_RATIO, MIN_GENUINE
from likeness_eval.robustness import CONDITIONS, FAR, MIN_BIN_PAIRS, POSE_BINS, POSE_NOTE

#: The reference paper's figures (MTCNN + FaceNet): what each table sets ours beside.
PAPER = {
    "rank1": 0.992, "rank5": 0.998, "rank10": 0.999, "unknown_detection": 0.968,
    "intra_mean_distance": 0.128, "intra_sd": 0.041, "inter_mean_distance": 0.652,
    "inter_sd": 0.089, "ratio": 5.09, "eer": 0.0082,
    "ablation": {
        "aligned": {"auc": 0.9876, "eer": 0.0082, "tar_at_far_1pct": 0.9876},
        "centre": {"auc": 0.9423, "eer": 0.0211, "tar_at_far_1pct": 0.9514},
    },
    "latency_ms": {"total_cpu": 300, "total_t4_gpu": 82},
    "fairness_auc": {"male": 0.990, "female": 0.983},
}  # fmt: skip


def _pct(v: float) -> str:
    if 0 < v < 1e-4:  # the tail of a Gaussian: say how small, not "0.00%"
        return f"{100 * v:.1e}%"
    return f"{100 * v:.2f}%"


def markdown(r: dict) -> str:
    s, p = r["separability"], PAPER
    lines = [
        f"# Evaluation suite: {r['model']} (recogniser {r['model_version'][:12]})",
        "",
        f"`{r['command']}`" if r["command"] else "",
        "",
        f"LFW View 2 images: {r['images']} ({r['no_face']} without a detected face: centre crop).",
        "",
        *(
            [
                f"**A quick run on about {r['limit']} View 2 pairs (`--limit`): its figures do "
                "not compare with the paper's or with a full run.**",
                "",
            ]
            if r.get("limit")
            else []
        ),  # fmt: skip
        *_identification_lines(r),
        "## Separability",
        f"{s['genuine_pairs']} genuine and {s['impostor_pairs']} impostor pairs of LFW View 2 "
        "(a seeded sample), cosine distance = 1 - similarity.",
        "",
        "| measure | paper | ours |",
        "|---|---|---|",
        f"| mean intra-class distance | {p['intra_mean_distance']:.3f} | "
        f"{s['intra_mean_distance']:.3f} |",
        f"| its standard deviation | {p['intra_sd']:.3f} | {s['intra_sd']:.3f} |",
        f"| mean inter-class distance | {p['inter_mean_distance']:.3f} | "
        f"{s['inter_mean_distance']:.3f} |",
        f"| its standard deviation | {p['inter_sd']:.3f} | {s['inter_sd']:.3f} |",
        f"| ratio of the means | {p['ratio']:.2f} | {s['ratio']:.2f} |",
        f"| d-prime | {_paper_dprime():.2f} (from its table) | {s['d_prime']:.2f} |",
        f"| EER, measured | {_pct(p['eer'])} | {_pct(s['eer'])} |",
        f"| EER two Gaussians with these moments imply | {_opt(s['paper_gaussian_eer'])} | "
        f"{_opt(s['gaussian_eer'])} |",
        "",
        "What the numbers show: the ratio of mean distances depends on where a model puts "
        "its impostors (ArcFace near cosine 0, distance about 1; FaceNet elsewhere), so "
        "ratios of two models do not compare. d-prime has no unit and does compare, but "
        "it summarises two bell curves and says nothing of the tails, where thresholds at "
        "low false-match rates live. The paper's own table is not consistent with its EER: "
        f"two Gaussians with its means and deviations imply an EER of "
        f"{_opt(s['paper_gaussian_eer'])}, not {_pct(p['eer'])}; its distances are not "
        "Gaussian, or the table and the EER come from different runs.",
        "",
        "![Score histograms](separability.png)",
        "",
    ]
    if r.get("ablation"):
        lines += _ablation_lines(r["ablation"])
    if r.get("robustness"):
        lines += _robustness_lines(r["robustness"], r.get("face_checks_edc"))
    if r.get("latency"):
        lines += _latency_lines(r["latency"])
    lines += _fairness_lines(r.get("fairness"))
    f = r["failures"]
    t = f["totals"]
    lines += [
        "## Failure cases",
        f"At the pack's default 1:1 threshold ({f['threshold']:.3f}), {t['genuine_below']} of "
        f"{t['genuine_pairs']} genuine View 2 pairs score below it and {t['impostor_above']} "
        f"of {t['impostor_pairs']} impostor pairs at or above it. The sheet shows the "
        "lowest-scoring genuine and the highest-scoring impostor pairs.",
        "",
        "![The worst pairs](failures.png)",
        "",
    ]
    return "\n".join(lines)


def _ablation_lines(a: dict) -> list[str]:
    names = {"aligned": "aligned (5 landmarks)", "box": "detector box, not aligned",
             "centre": "centre crop, no detection"}  # fmt: skip
    lines = [
        "## Alignment ablation",
        f"Every one of the {a['pairs']} LFW View 2 pairs, through the same recogniser; "
        f"{a['no_face']} images without a detected face get the centre crop throughout.",
        "",
        "| crop | AUC (paper / ours) | EER (paper / ours) | TAR at FAR 1% (paper / ours) |",
        "|---|---|---|---|",
    ]
    for v in VARIANTS:
        ours, theirs = a[v], PAPER["ablation"].get(v)

        def both(key: str, pct: bool, ours=ours, theirs=theirs) -> str:
            show = _pct if pct else (lambda x: f"{x:.4f}")
            return f"{show(theirs[key]) if theirs else '-'} / {show(ours[key])}"

        lines.append(
            f"| {names[v]} | {both('auc', False)} | {both('eer', True)} | "
            f"{both('tar_at_far_1pct', True)} |"
        )
    lines += [
        "",
        "The paper had no box-only row, and its rows are FaceNet's. The centre crop is "
        "the central half of the photo (about the face's size); LFW's deep-funneled "
        "photos are already roughly aligned as a whole, so it is a milder handicap than "
        "on raw photos. The 5-point alignment is what brings the error rates down.",
        "",
    ]
    return lines


def _opt(v: float | None) -> str:
    return "-" if v is None else _pct(v)


def _paper_dprime() -> float:
    pooled = np.sqrt((PAPER["intra_sd"] ** 2 + PAPER["inter_sd"] ** 2) / 2)
    return float((PAPER["inter_mean_distance"] - PAPER["intra_mean_distance"]) / pooled)


def _ci(entry: dict, key: str, pct: bool = True) -> str:
    if entry.get(key) is None:
        return f"- (under {int(10 / FAR):,} impostor pairs)"
    low, high = entry["interval_90"][key]
    show = _pct if pct else (lambda x: f"{x:.4f}")
    return f"{show(entry[key])} [{show(low)}, {show(high)}]"


def _with_ci(value: float, interval) -> str:
    low, high = interval
    return f"{_pct(value)} [{_pct(low)}, {_pct(high)}]"


def _fpir_point(e: dict) -> str:
    point = e["open_set"].get("at_fpir_1pct")
    if not point:
        return "- (no strangers)"
    return f"{_pct(point['dir'])} (t {point['threshold']:.3f})"


def _held_out(e: dict) -> str:
    h = e["open_set"].get("held_out")
    if not h:
        return "-"
    return (f"{_pct(h['unknown_detection'])} / DIR {_pct(h['dir'])} "
            f"(t {h['threshold']:.3f})")  # fmt: skip


def _open_set_note(strangers: int, held: dict | None) -> str:
    fit = f" ({held['fit_strangers']} of them)" if held else ""
    tested = f" ({held['strangers']} and {held['probes']})" if held else ""
    return (
        f"Unknown detection: the share of the {strangers} strangers answered "
        '"unknown"; DIR: probes whose own person is the best match and scores at least '
        "the threshold; t: the threshold (cosine similarity). The shipped 1:N threshold "
        "was itself chosen as the lowest with under 1% of these strangers matched, so "
        "its unknown detection is about 99% by construction. The held-out row is the "
        "fair one: the threshold is set at FPIR 1% on the strangers of one identity half"
        f"{fit}, then measured on the other half's strangers and probes{tested}."
    )


def _misses_sentence(i: dict) -> str:
    beyond, shown = i.get("beyond_rank5", 0), len(i.get("misses", []))
    probes = i["split"]["probes"]
    if not beyond:
        return f"Every one of the {probes} probes finds its own person within rank 5."
    return (f"{beyond} probes (of {probes}) find their own person beyond rank 5 in the LFW "
            f"gallery; the sheet shows {'them' if shown == beyond else f'the worst {shown}'} "
            "with each one's enrolled photo and the photo it matched best, to judge by eye "
            "how many are label noise.")  # fmt: skip


def _identification_lines(r: dict) -> list[str]:
    i, p = r["identification"], PAPER
    n = i["split"]
    galleries = [("LFW only", n["gallery_identities"], i)]
    extra = i.get("distractors") or {}
    for size, entry in extra.get("galleries", {}).items():
        galleries.append((f"{int(size):,}", int(size), entry))
    head = " | ".join(f"{label} ({size:,} ids)" if label == "LFW only" else f"{label} ids"
                      for label, size, _ in galleries)  # fmt: skip

    def row(name: str, paper: str, value) -> str:
        return f"| {name} | {paper} | " + " | ".join(value(e) for _, _, e in galleries) + " |"

    lines = [
        "## Identification",
        f"Over the images of LFW View 2 (not all of LFW): the gallery is the first image "
        f"of each of {n['gallery_identities']} people with two of them or more; "
        f"{n['probes']} probes of them; {n['strangers']} strangers (people with one). "
        "[90% Wilson intervals] over the probes and strangers.",
    ]
    if extra.get("galleries"):
        fit = extra["fit"]
        real, fitted = fit["real"], fit["fitted"]
        lines += [
            "",
            "Then the gallery grows to "
            + " and ".join(f"{int(k):,}" for k in extra["galleries"])
            + " identities (the paper's held 10,000) with distractors: synthetic people "
            "drawn from a two-covariance model fitted to these very embeddings (the 1:N "
            "benchmark's; one enrolment photo each). Its cosines against the real ones: "
            f"genuine {fitted['genuine_mean']:.3f}±{fitted['genuine_sd']:.3f} fitted, "
            f"{real['genuine_mean']:.3f}±{real['genuine_sd']:.3f} real; impostor "
            f"{fitted['impostor_mean']:.3f}±{fitted['impostor_sd']:.3f} fitted, "
            f"{real['impostor_mean']:.3f}±{real['impostor_sd']:.3f} real. Only the "
            "impostor side matters for distractors (they are nobody's mates); a real "
            "crowd also has look-alikes, twins and label noise that a Gaussian fit lacks, "
            "so read these columns as an estimate of how ranks and false alarms grow with "
            "the gallery, not as a measured gallery of that size.",
        ]
    o1 = i["open_set"]
    held = o1.get("held_out")
    lines += [
        "",
        f"| measure | paper (10,000 ids, 1,000 probes) | {head} |",
        "|---|---|" + "---|" * len(galleries),
        *(
            row(
                f"rank-{k}",
                _pct(p[f"rank{k}"]),
                lambda e, k=k: _with_ci(e["cmc"][f"rank{k}"], e["cmc_interval_90"][f"rank{k}"]),
            )
            for k in (1, 5, 10)
        ),  # fmt: skip
        row("rank-20", "-", lambda e: _pct(e["cmc"]["rank20"])),
        row(
            f"unknown detection at the default 1:N threshold {o1['threshold']:.3f} (chosen "
            "on these strangers)",
            f"{_pct(p['unknown_detection'])} (200 strangers)",
            lambda e: _with_ci(
                e["open_set"]["unknown_detection"], e["open_set"]["unknown_detection_interval_90"]
            ),
        ),  # fmt: skip
        row("DIR at that threshold", "-", lambda e: _pct(e["open_set"]["dir"])),
        row("DIR at FPIR 1%", "-", _fpir_point),
        row("held out: unknown detection / DIR, threshold set on other people", "-", _held_out),
        "",
        _open_set_note(n["strangers"], held),
        "",
        "![CMC](cmc.png) ![DIR against FPIR](dir_fpir.png)",
        "",
        _misses_sentence(i),
        "",
        "![Probes beyond rank 5](misses.png)",
        "",
    ]
    return lines


def _robustness_lines(rob: dict, edc: dict | None) -> list[str]:
    lines = [
        "## Robustness",
        f"{rob['pairs']} genuine LFW View 2 pairs (a seeded sample; "
        f"{rob['dropped_no_clean_face']} dropped: no face in a clean photo). The first "
        "photo stays clean; the second is changed, then goes through detection, alignment "
        f"and embedding. Impostors: each changed photo against {rob['impostors_per_photo']} "
        "clean photos of other people "
        f"({rob['pairs'] * rob['impostors_per_photo']:,} pairs). A changed photo whose face "
        "the detector no longer finds scores -1 (it matches nobody) and is counted as lost. "
        f"Accuracy: at the operating 1:1 threshold {rob['threshold']:.3f}, genuine and "
        "impostor success rates averaged. [90% intervals]: people resampled. The paper did "
        "not define its conditions, so its figures are only a rough guide.",
        "",
        f"| condition | what is done | paper AUC | AUC | accuracy | TAR at FAR {FAR:g} | "
        "faces lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, (what, paper) in CONDITIONS.items():
        if name not in rob["conditions"]:
            continue
        e = rob["conditions"][name]
        lines.append(
            f"| {name} | {what} | {'-' if paper is None else f'{paper:.2f}'} | "
            f"{_ci(e, 'auc', False)} | {_ci(e, 'accuracy')} | {_ci(e, 'tar_at_far_1e-3')} | "
            f"{e['lost_face']} |"
        )
    lines += [
        "",
        "### Pose",
        POSE_NOTE,
        "",
        f"| pose (larger yaw of the pair) | paper AUC | genuine / impostor pairs | AUC | "
        f"accuracy | TAR at FAR {FAR:g} |",
        "|---|---|---|---|---|---|",
    ]
    for name, low, paper in POSE_BINS:
        e = rob["pose"].get(name, {"genuine_pairs": 0, "impostor_pairs": 0})
        counts = f"{e['genuine_pairs']} / {e['impostor_pairs']:,}"
        if "auc" not in e:
            lines.append(
                f"| {name} (from {low:g}°) | {paper:.2f} | {counts} | too few pairs to rate "
                f"(under {MIN_BIN_PAIRS} genuine) | - | - |"
            )
            continue
        lines.append(
            f"| {name} (from {low:g}°) | {paper:.2f} | {counts} | {_ci(e, 'auc', False)} | "
            f"{_ci(e, 'accuracy')} | {_ci(e, 'tar_at_far_1e-3')} |"
        )
    lines += ["", "![Robustness](robustness.png)", ""]
    if edc and "fnmr_after_discarding" in edc:
        f = edc["fnmr_after_discarding"]
        lines += [
            "### The face checks: error versus discard",
            f"The shipped quality score on the {edc['comparisons']:,} genuine comparisons "
            f"above (every condition) of the {edc['people']} people of half B, whom its fit "
            "never saw. Discard the lowest-quality comparisons first and FNMR at the "
            f"operating threshold ({edc['threshold']:.3f}) should fall faster than at random.",
            "",
            "| discarding | nothing | 5% | 10% | 20% | pAUC to 20% |",
            "|---|---|---|---|---|---|",
            *(
                f"| {name} | "
                + " | ".join(_pct(f[name][k]) for k in ("0%", "5%", "10%", "20%"))
                + f" | {edc['pauc_to_20pct'][name][0]:.5f} |"
                for name in f
            ),
            "",
            "![EDC](edc.png)",
            "",
        ]
    return lines


def _latency_lines(lat: dict) -> list[str]:
    if "error" in lat:
        return ["## Latency", f"Not measured: {lat['error']}", ""]
    s = lat["stages"]
    names = {"decode": "decoding (both images)", "detect": "detection (both)",
             "align": "alignment (both faces)", "embed": "embedding (both)",
             "checks": "face checks (both)", "similarity": "similarity"}  # fmt: skip
    lines = [
        "## Latency",
        f"One 1:1 verification of an LFW pair (250x250 JPEGs), {lat['pairs']} pairs x "
        f"{lat['rounds']} rounds, one at a time, on this machine ({lat['cores']} cores, "
        f"{lat['intra_op_threads']} ONNX Runtime threads, CPU, flip "
        f"{'on' if lat.get('flip') else 'off'} as the server's default). HTTP: "
        f"`POST /api/verify` to {lat['server']}. "
        "The paper: 300 ms on a CPU, 82 ms on a T4 GPU, end to end.",
        "",
        "| stage | p50 (ms) | p95 (ms) |",
        "|---|---|---|",
        *(f"| {names[k]} | {v['p50_ms']:.2f} | {v['p95_ms']:.2f} |" for k, v in s.items()),
        f"| **end to end, in-process** (`verify`) | {lat['in_process']['p50_ms']:.1f} | "
        f"{lat['in_process']['p95_ms']:.1f} |",
        f"| **end to end, over HTTP** | {lat['http']['p50_ms']:.1f} | "
        f"{lat['http']['p95_ms']:.1f} |",
        f"| API overhead (HTTP p50 - in-process p50) | {lat['api_overhead_p50_ms']:.1f} | - |",
        "",
    ]
    return lines


def _fairness_lines(fair: dict | None) -> list[str]:
    lines = ["## Fairness"]
    if not fair:
        return lines + [
            "No group-label file was given (`--groups FILE`, CSV `image,group`), and none "
            "ships with LFW: see the README for where to get one. The paper reports AUC by "
            "gender (male 0.990, female 0.983).",
            "",
        ]
    lines += [
        f"Groups from `{fair['file']}` ({fair['labelled_photos']} labelled photos of LFW "
        f"View 2). One threshold for everybody, {fair['threshold']:.4f}, at FMR "
        f"{fair['fmr']:g} over all {fair['impostor_pairs']:,} cross-identity pairs of the "
        "labelled photos. Per group: FNMR, the share of its genuine pairs (every pair of "
        "two photos of one of its people) below the threshold; FMR, the share of its "
        "impostor pairs (two of its people) at or above it; AUC, its genuine against its "
        "impostor pairs. The paper's AUC shows beside groups named male or female.",
        "",
        "| group | photos | people | genuine pairs | FNMR | FMR | AUC | paper AUC |",
        "|---|---|---|---|---|---|---|---|",
    ]
    paper = PAPER["fairness_auc"]
    for name, g in fair["groups"].items():
        lines.append(
            f"| {name} | {g['photos']} | {g['people']} | {g['genuine_pairs']} | "
            f"{_opt(g['fnmr'])} | {_opt(g['fmr'])} | "
            f"{'-' if g['auc'] is None else format(g['auc'], '.4f')} | "
            f"{format(paper[name.lower()], '.3f') if name.lower() in paper else '-'} |"
        )
    ratio, least, most = fair["fnmr_ratio"], fair.get("ratio_at_least"), fair.get("ratio_at_most")
    if least is None:
        verdict = (f"No ratio: fewer than two groups have {MIN_GENUINE} genuine pairs or more "
                   "(a smaller group's FNMR rests on a handful of failures)")  # fmt: skip
    else:
        shown = "unbounded (a group has no failure)" if ratio is None else f"{ratio:.2f}"
        upper = "unbounded" if most is None else f"{most:.2f}"
        verdict = (f"Largest/smallest FNMR over {', '.join(fair['rated_groups'])} = {shown}; "
                   f"the groups' 90% intervals (people resampled) allow from {least:.2f} to "
                   f"{upper}"
                   + (f": even the lowest is above {FLAG_RATIO:g}, **a problem**"
                      if fair["flagged"] else
                      f": not flagged (flagged above {FLAG_RATIO:g})"))  # fmt: skip
    lines += ["", verdict + ".", ""]
    if fair["thin_groups"]:
        lines += [
            f"Fewer than {MIN_GENUINE} genuine pairs in {', '.join(fair['thin_groups'])}: "
            "too few to rate, so they stay out of the ratio.",
            "",
        ]
    return lines
