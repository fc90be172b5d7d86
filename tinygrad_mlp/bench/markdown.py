"""The markdown report: run context, targets as ratios, step / overhead / epoch tables."""

from __future__ import annotations

from typing import Any

from .report import STEP_IMPLS, engines_vs_torch, noise, step_index


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:.2f}"


def _mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.2f}"


def build_blas(blas: dict[str, Any]) -> str:
    """The BLAS NumPy was built with, ``name version`` (or why it is unknown)."""
    build = blas.get("build_blas") or {}
    built = " ".join(str(build[k]) for k in ("name", "version") if build.get(k))
    if not built:
        error = str(build.get("error") or "").strip().splitlines()
        built = f"unknown ({error[0]})" if error else "unknown"
    return built


def blas_line(blas: dict[str, Any]) -> str:
    """NumPy's build-time BLAS, then every BLAS or OpenMP pool loaded in the process, each named
    by its folder and library file (SciPy's OpenBLAS is not NumPy's; threadpoolctl sees an MKL
    that NumPy links without ``libmkl_rt`` only through its OpenMP runtime)."""
    pools = blas.get("threadpools")
    if isinstance(pools, list):
        pools = "; ".join(_pool_text(p) for p in pools)
    return f"BLAS: NumPy built with {build_blas(blas)}; loaded pools: {pools or 'none'}"


def _pool_text(pool: dict[str, Any]) -> str:
    """``numpy.libs/libscipy_openblas64_-....so: openblas 0.3.31, 2 threads (SkylakeX)``: the
    folder of the library file tells whose copy it is."""
    path = str(pool.get("filepath") or pool.get("prefix")).replace("\\", "/")
    text = "/".join(path.rsplit("/", 2)[-2:]) + f": {pool.get('internal_api')}"
    text += f" {pool['version']}" if pool.get("version") else ""
    text += f", {pool['num_threads']} threads" if pool.get("num_threads") is not None else ""
    return text + (f" ({pool['architecture']})" if pool.get("architecture") else "")


def _header(results: dict[str, Any]) -> list[str]:
    meta, cfg = results["meta"], results["config"]
    torch = results.get("torch") or {}
    tmeta = torch.get("meta") or {}
    scipy = meta.get("versions", {}).get("scipy") if meta.get("blas_axpy", True) else None
    lines = [
        f"- date: {meta['date']}; command: `{meta['command']}`; "
        f"{'QUICK smoke run (not for comparison)' if cfg['quick'] else 'full run'}",
        f"- machine: {meta['cpu_model']}, {meta['cpu_count']} logical CPUs "
        f"(affinity {meta['cpu_affinity']}), load average at start {meta['load_average']}, "
        f"at end {meta.get('load_average_end')}; "
        f"GPU: {meta.get('gpu') or 'none'}",
        f"- Python {meta['python']}, NumPy {meta['numpy']}, {blas_line(meta['blas'])}; "
        f"thread env: {({k: v for k, v in meta['thread_env'].items() if v}) or 'none set'}; "
        f"--threads: {meta.get('blas_threads_limit') or 'not set (library defaults)'}",
        f"- tinygrad_mlp step: {results.get('tinygrad_variant')}; source commit "
        f"{(meta.get('tinygrad_mlp_commit') or 'unknown')[:12]}; large parameter updates on the "
        + (f"CPU: BLAS axpy of SciPy {scipy}" if scipy else "CPU: NumPy (no SciPy)")
        + ("; subnormals flushed to zero" if meta.get("flush_denormal") else ""),
        f"- PyTorch: {torch.get('status')}"
        + (
            f", torch {tmeta.get('torch')}, BLAS: {tmeta.get('blas', 'unknown')}, "
            f"{tmeta.get('num_threads')} threads "
            f"(separate process, {'--threads' if cfg.get('threads') else 'default'} threading)"
            if tmeta
            else ""
        ),
        f"- timing ({cfg.get('clock', 'wall')} clock): median of {cfg['repeats']} repeats after "
        f"{cfg['warmup']} warm-up calls, "
        f"each repeat >= {cfg['min_sample_s'] * 1e3:.0f} ms of calls; NumPy-based "
        "implementations interleaved round-robin in one process (PyTorch's step with its GEMM "
        "floor, in its own process); spread in the JSON",
    ]
    lines += [f"- {d}: {note}" for d, note in results.get("device_notes", {}).items()]
    if results.get("interrupted"):
        lines.append(f"- **INTERRUPTED**: {results['interrupted']}")
    lines += [  # the first line of each error (the whole traceback is in the JSON)
        f"- **FAILED** {f['part']}: {(f['error'].splitlines() or [''])[0]}"
        for f in results.get("failures", [])
    ]
    return lines + _busy_lines(meta) + [_noise_line(results)]


def _busy_lines(meta: dict[str, Any]) -> list[str]:
    """A warning when other processes used the CPUs as the run started. The share of CPU time
    measured just before the run decides (``busy_at_start``); the load average, which trails by
    minutes (a run right after another one inherits its load), only where that is missing."""
    busy = meta.get("busy_at_start")
    if busy is not None:
        line = f"- CPU time used by others (processes, hypervisor) just before the run: {busy:.0%}"
        if busy > 0.25:
            line += "; WARNING: the machine was busy, timings are noisy"
        return [line]
    load = (meta.get("load_average") or [0])[0]
    if load > 0.5 * (meta.get("cpu_count") or 1):
        return [
            f"- WARNING: the machine was busy (load {load} on {meta['cpu_count']} CPUs): "
            "other processes competed for the cores, timings are noisy"
        ]
    return []


def _noise_line(results: dict[str, Any]) -> str:
    """One line: an undisturbed run, or a warning naming the noisiest timings."""
    n = results.get("noise") or noise(results)
    iqr, spread = f"{n['iqr_limit'] * 100:.0f}%", f"{n['epoch_spread_limit']}x"
    probe = results.get("probe")
    if probe:
        times = ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in probe["seconds"].items())
        probe_text = f"speed probe ({probe['workload']}): {times}"
    if not n["disturbed"]:
        return (
            f"- noise: an undisturbed run (every step timing's IQR <= {iqr} of its median; each "
            f"implementation's epoch times within {spread} of each other"
            + (f"; {probe_text}, within {n['probe_spread_limit']}x)" if probe else ")")
        )
    parts = []
    if n.get("probe_spread") and n["probe_spread"] > n["probe_spread_limit"]:
        parts.append(
            f"the machine changed speed during the run: {probe_text} "
            f"({n['probe_spread']:.2f}x apart)"
        )
    if n["noisy_steps"]:
        worst = ", ".join(
            f"{s['case']} {s['impl']} {s['iqr_over_median'] * 100:.0f}%"
            for s in n["noisy_steps"][:3]
        )
        parts.append(
            f"{len(n['noisy_steps'])} of {n['step_timings']} step timings have an IQR over "
            f"{iqr} of their median (worst: {worst})"
        )
    if n["noisy_epochs"]:
        worst = ", ".join(f"{e['impl']} {e['spread']:.2f}x" for e in n["noisy_epochs"])
        parts.append(f"epoch times of one implementation differ by over {spread} ({worst})")
    return (
        "- WARNING: a disturbed run: " + "; ".join(parts) + ". The machine was shared or busy: "
        "compare and commit ratios from an undisturbed run"
    )


def _targets(results: dict[str, Any]) -> list[str]:
    lines = ["| target | worst measured | case | status |", "|---|---|---|---|"]
    for t in results.get("targets", []):
        worst = t.get("worst")
        value = "-" if worst is None else f"{worst['ratio']:.2f}x"
        if worst and "accuracy_gap" in worst:
            value += f" (accuracy gap {worst['accuracy_gap'] * 100:+.2f}%)"
        case = worst["case"] if worst else "-"
        lines.append(f"| {t['target']} | {value} | {case} | {t['status']} |")
    return lines


def _engines_line(results: dict[str, Any]) -> list[str]:
    rows = engines_vs_torch(results)
    rated = [r for r in rows if r["ratio"] is not None]
    if not rated:
        return []
    low, high = (f(rated, key=lambda r: r["ratio"]) for f in (min, max))
    skipped = [r["case"] for r in rows if r["ratio"] is None]
    return [
        "",
        f"Beside the targets, the engines without their GEMM libraries: (tinygrad_mlp step - its "
        f"GEMM floor) / (PyTorch step - PyTorch's GEMM floor) = {low['ratio']:.2f}x "
        f"({low['case']}) to {high['ratio']:.2f}x ({high['case']}) over {len(rated)} of "
        f"{len(rows)} CPU cases"
        + (
            f" (no ratio where a step was not slower than its floor: {', '.join(skipped)})"
            if skipped
            else ""
        )
        + ". An estimate: products timed alone may run faster than inside a step, and a "
        "difference of two medians is noisier than either (see the IQRs).",
    ]


def _step_tables(results: dict[str, Any]) -> list[str]:
    idx = step_index(results)
    peaks = {
        (r["device"], r["network"], r["dtype"], r["batch"], r["impl"]): r.get("peak_bytes")
        for r in results.get("steps", [])
    }
    spread = {
        (r["device"], r["network"], r["dtype"], r["batch"], r["impl"]): r["time"]["iqr"]
        for r in results.get("steps", [])
    }
    lines: list[str] = []
    groups = sorted({(k[0], k[2]) for k in idx if k[4] == "tinygrad"})
    for device, dtype in groups:
        lines += [
            f"\n### Step time, {device}, {dtype} (ms per step; IQR in parentheses)\n",
            "| network | batch | tinygrad | compiled | NumPy ref | GEMM floor | PyTorch "
            "| PyTorch GEMM floor | tg/ref | compiled/ref | tg/GEMM | tg/torch | compiled/torch "
            "| GEMM/torch GEMM | peak MB tg | peak MB ref | peak MB torch |",
            "|" + "---|" * 17,
        ]
        cases = sorted(
            {(k[1], k[3]) for k in idx if k[0] == device and k[2] == dtype},
            key=lambda c: (c[0], c[1]),
        )
        for net, batch in cases:
            key = (device, net, dtype, batch)

            def cell(impl: str, key: tuple = key) -> str:
                med = idx.get(key + (impl,))
                return "-" if med is None else f"{_ms(med)} ({_ms(spread.get(key + (impl,)))})"

            tg, comp, ref, gemm, torch, torch_gemm = (idx.get(key + (i,)) for i in STEP_IMPLS)
            lines.append(
                f"| {net} | {batch} | "
                + " | ".join(cell(i) for i in STEP_IMPLS)
                + f" | {_ratio(tg, ref)} | {_ratio(comp, ref)} | {_ratio(tg, gemm)} | "
                f"{_ratio(tg, torch)} | {_ratio(comp, torch)} | {_ratio(gemm, torch_gemm)} | "
                f"{_mb(peaks.get(key + ('tinygrad',)))} | "
                f"{_mb(peaks.get(key + ('numpy_reference',)))} | "
                f"{_mb(peaks.get(key + ('torch',)))} |"
            )
    return lines


def _overhead_table(results: dict[str, Any]) -> list[str]:
    rows = results.get("overhead") or []
    if not rows:
        return []
    med = {(r["op"], r["impl"]): r["time"]["median"] for r in rows}
    ops = list(dict.fromkeys(r["op"] for r in rows))
    impls = ["numpy", "tinygrad", "tinygrad_no_graph", "torch", "torch_no_graph"]
    lines = [
        "\n### Per-op overhead on 4x4 float32 tensors (us per call)\n",
        "| op | " + " | ".join(impls) + " | tinygrad - numpy | tinygrad / numpy |",
        "|---|" + "---|" * (len(impls) + 2),
    ]
    for op in ops:
        cells = ["-" if (op, i) not in med else f"{med[(op, i)] * 1e6:.2f}" for i in impls]
        tg, raw = med.get((op, "tinygrad")), med.get((op, "numpy"))
        diff = "-" if tg is None or raw is None else f"{(tg - raw) * 1e6:.2f}"
        lines.append(f"| {op} | " + " | ".join(cells) + f" | {diff} | {_ratio(tg, raw)} |")
    lines.append(
        "\n`tinygrad` = inputs require grad (graph recorded); `_no_graph` = they do not. "
        "`graph_fwd_bwd` = `(a * b).sum().backward()` (NumPy: the same forward and the "
        "hand-written input gradients)."
    )
    return lines


def _epoch_table(results: dict[str, Any]) -> list[str]:
    ep = results.get("epoch")
    if not ep:
        return []
    lines = [
        f"\n### Epoch on {ep['data_source']} ({ep['data_note']})\n",
        f"{ep['network']}, batch {ep['batch']}, SGD lr {ep['lr']}, {ep['epochs']} epoch(s), "
        f"{ep['train_samples']} train / {ep['test_samples']} test samples.\n",
        "| implementation | median epoch s | epoch times s | test accuracy | notes |",
        "|---|---|---|---|---|",
    ]
    for r in ep["results"]:
        times = ", ".join(f"{t:.2f}" for t in r["epoch_times_s"])
        notes = "; ".join(
            f"{k}: {v}"
            for k, v in r.items()
            if k in ("variant", "batching", "init", "solver", "weights_dtype")
        )
        lines.append(
            f"| {r['impl']} | {r['median_epoch_s']:.3f} | {times} | "
            f"{r['test_accuracy']:.4f} | {notes} |"
        )
    lines += [f"- {k}: {v}" for k, v in ep.get("notes", {}).items()]
    return lines


def render(results: dict[str, Any], stem: str) -> str:
    """The whole markdown report."""
    lines = ["# tinygrad_mlp benchmark", ""] + _header(results)
    lines += ["", "## Targets (ratios: tinygrad_mlp / other; lower is better except speed-up)", ""]
    lines += _targets(results) + _engines_line(results)
    lines += ["", "## Results"] + _step_tables(results) + _overhead_table(results)
    lines += _epoch_table(results)
    lines += [
        "",
        f"Plots: `{stem}-step-time.png`"
        + (
            f", `{stem}-gpu-speedup.png`"
            if any(r["device"] == "cuda" for r in results.get("steps", []))
            else ""
        ),
        f"Total run time: {results.get('elapsed_s', 0):.1f} s.",
        "",
    ]
    return "\n".join(lines)
