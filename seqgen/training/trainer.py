"""The one training loop: optimizer, schedule, clipping, budgets, validation and patience, best weights,
checkpoints, exact resume, clean stops on signals, torchrun and metrics rows.

What a kind of model learns (its batches, loss and validation score) comes from a `Task`
(`seqgen.training.task`); nothing here knows whether the ids are characters, words, notes or frames.
"""

from __future__ import annotations

import json
import math
import shlex
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm import tqdm

from seqgen.config import TrainConfig
from seqgen.errors import Interrupted, SeqgenError, TrainingDiverged
from seqgen.files import atomic_write_bytes
from seqgen.training.checkpoint import METRICS, Run, save_checkpoint
from seqgen.training.distributed import ProcessGroup, SingleProcess
from seqgen.training.schedule import lr_at
from seqgen.training.task import Task
from seqgen.training.threads import ThroughputWatch

Log = Callable[[str], None]
PERMILLE = 1000  # the progress bar's total: thousandths of the budget
PLAIN_EVERY = 30.0  # seconds between plain progress lines when there is no bar (stderr not a terminal)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


@dataclass
class Position:
    """Everything, besides weights and optimizer, that an exact resume needs."""

    step: int = 0
    tokens: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed: float = 0.0  # seconds of training so far, across resumes
    best_val: float | None = None
    evals_since_best: int = 0
    last_eval_step: int = -1
    acc_loss: float = 0.0  # running sums for the next metrics row
    acc_grad: float = 0.0
    acc_n: int = 0


@dataclass
class TrainResult:
    steps: int
    tokens: int
    elapsed: float
    best_val: float | None
    last_val: float | None
    reason: str
    history: list[dict] = field(default_factory=list)


def resume_command(run: Path) -> str:
    return f"seqgen train --resume {shlex.quote(str(run))}"


class SignalFlag:
    """First SIGINT/SIGTERM asks for a clean stop after the current step; a second SIGINT stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> "SignalFlag":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    def __init__(
        self,
        run: Run,
        task: Task,
        model: torch.nn.Module,
        cfg: TrainConfig,
        device: torch.device,
        log: Log = lambda msg: None,
        progress_bar: bool = False,
        group: ProcessGroup | None = None,
        plain_every: float | None = None,
    ):
        self.run, self.task, self.model, self.cfg, self.device = run, task, model, cfg, device
        self.group = group or SingleProcess()  # under torchrun: this rank, its share of each batch and the collectives
        self.net = self.group.wrap(model, device)  # the model itself, or DDP around it
        # The weights were drawn from --seed alike on every rank (and DDP has just copied rank 0's to the others);
        # the dropout masks must differ, as they do between the rows of one process's batch.
        self.group.own_random_stream(cfg.seed)
        self.log, self.progress_bar = log, progress_bar
        self.plain_every = PLAIN_EVERY if plain_every is None else plain_every
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.pos = Position()
        self.history: list[dict] = []
        self.last_val: float | None = None
        self.saved_step = -1
        self.watch = ThroughputWatch(torch.get_num_threads() if device.type == "cpu" else 1)

    # ------------------------------------------------------------ budget and data position

    def progress(self) -> float:
        """Fraction of the budget used: whichever of steps, epochs and time runs out first."""
        cfg, pos = self.cfg, self.pos
        parts = [0.0]
        if cfg.max_steps:
            parts.append(pos.step / cfg.max_steps)
        if cfg.epochs:
            parts.append((pos.epoch + pos.batch_in_epoch / max(1, self.task.steps_per_epoch)) / cfg.epochs)
        if cfg.time_limit:
            parts.append(pos.elapsed / cfg.time_limit)
        return max(parts)

    def _next_batch(self) -> Any:
        """The batch at the current position, moving to the next epoch when this one has no more."""
        pos = self.pos
        batch = self.task.batch(pos.epoch, pos.batch_in_epoch, self.device)
        if batch is None:
            pos.epoch, pos.batch_in_epoch = pos.epoch + 1, 0
            self.task.new_epoch()
            batch = self.task.batch(pos.epoch, 0, self.device)
            if batch is None:
                raise SeqgenError("the training split yields no batch", "add data or lower --batch")
        return batch

    # ------------------------------------------------------------ state for checkpoints

    def state_dict(self) -> dict[str, Any]:
        rng_cpu = self._gather_rng(torch.get_rng_state())
        out = {
            "position": asdict(self.pos),
            "optimizer": self.optimizer.state_dict(),
            "rng_cpu": rng_cpu[0],  # rank 0's, the one key older checkpoints have
            "rng_cpu_ranks": rng_cpu,  # every rank's, in rank order
            "hidden": self.task.carried(),  # a collective under torchrun: all ranks' rows
        }
        if self.device.type == "cuda":
            rng_cuda = self._gather_rng(torch.cuda.get_rng_state(self.device))
            out["rng_cuda"], out["rng_cuda_ranks"] = rng_cuda[0], rng_cuda
        return out

    def _gather_rng(self, state: torch.Tensor) -> list[torch.Tensor]:
        return [s.cpu() for s in self.group.gather(state)]

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.pos = Position(**saved["position"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self._restore_rng(saved)
        self.task.restore_carried(saved["hidden"], self.device)
        self.saved_step = self.pos.step  # the checkpoint we resume from
        if self.group.is_main:
            self._truncate_metrics()

    def _restore_rng(self, saved: dict[str, Any]) -> None:
        """Each rank continues the random stream it saved, so a resumed run ends bit for bit where a straight one would.

        Resumed with a different number of processes, rank r continues saved stream r where there is one; a rank
        beyond the saved ones starts a fresh stream (`ProcessGroup.own_random_stream` at this step), and saved streams
        beyond the running ranks are left unused. Every rank still draws its own masks, so the run continues in
        distribution, not bit for bit.
        """
        rank = self.group.rank
        cpu = saved.get("rng_cpu_ranks") or [saved["rng_cpu"]]  # an older checkpoint holds rank 0's only
        if rank >= len(cpu):
            self.group.own_random_stream(self.cfg.seed, self.pos.step)
            return
        torch.set_rng_state(cpu[rank])
        cuda = saved.get("rng_cuda_ranks") or ([saved["rng_cuda"]] if "rng_cuda" in saved else [])
        if rank < len(cuda) and self.device.type == "cuda":
            torch.cuda.set_rng_state(cuda[rank], self.device)

    def _truncate_metrics(self) -> None:
        """Drop metrics rows written after the checkpoint we resume from, so none appear twice."""
        path = self.run.path / METRICS
        if not path.exists():
            return
        keep = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a half-written last line from a crash
            is_eval = "val_loss" in row
            if row["step"] < self.pos.step or (row["step"] == self.pos.step and (not is_eval or self.pos.last_eval_step == self.pos.step)):
                keep.append(line)
        atomic_write_bytes(path, "".join(k + "\n" for k in keep).encode("utf-8"))

    def _write_row(self, row: dict) -> None:
        self.history.append(row)
        if not self.group.is_main:
            return
        try:
            with open(self.run.path / METRICS, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
        except OSError as exc:  # a half-written row is dropped on resume
            raise SeqgenError(
                f"cannot write {self.run.path / METRICS}: {exc.strerror or exc}",
                f"free disk space or fix permissions, then continue from the last checkpoint (step {max(0, self.saved_step)}) "
                f"with: {resume_command(self.run.path)}",
            ) from None

    # ------------------------------------------------------------ the loop

    def _train_step(self, batch: Any, lr: float) -> tuple[float, float, int]:
        """One optimizer step: (this rank's share of the loss, gradient norm before clipping, predictions made by all ranks)."""
        cfg = self.cfg
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss, count = self.task.loss(self.net, batch)
        if self.group.world > 1:
            # DDP averages the ranks' gradients; weighting each rank's mean by its share of the predictions makes that
            # average the gradient of the mean over the whole batch, as one process would take, when the ranks' rows
            # hold different numbers of tokens (pairs of different lengths)
            (total,) = self.group.mean([float(count)])
            loss = loss * (count / total)
            count = round(total * self.group.world)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in self.model.parameters() if p.grad is not None]
        if cfg.clip > 0 and cfg.clip_mode == "norm":
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.clip)  # norm before clipping
        else:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, float("inf"))  # measures only
            if cfg.clip > 0:
                torch.nn.utils.clip_grad_value_(params, cfg.clip)
        self.optimizer.step()
        return loss.item(), grad_norm.item(), count

    def _validate(self, should_stop: Callable[[], bool]) -> bool:
        """A full pass over the validation split, a metrics row and a checkpoint; False if a signal cut it short."""
        result = self.task.validate(self.model, self.device, should_stop)
        if result is None:
            return False
        pos, val = self.pos, result.nats
        improved = pos.best_val is None or val < pos.best_val
        pos.best_val = val if improved else pos.best_val
        pos.evals_since_best = 0 if improved else pos.evals_since_best + 1
        pos.last_eval_step = pos.step
        self.last_val = val
        self._write_row({"step": pos.step, "tokens": pos.tokens, "val_loss": val, "elapsed_s": round(pos.elapsed, 3)})
        self._checkpoint(best=improved)
        return True

    def _checkpoint(self, best: bool) -> None:
        state = self.state_dict()  # a collective under torchrun: every rank takes part
        if self.group.is_main:
            save_checkpoint(self.run, self.model, state, best=best)
        self.saved_step = self.pos.step

    def fit(self) -> TrainResult:
        """Train until the budget is used, patience runs out or a signal arrives; checkpoint at the end."""
        has_val = self.task.has_validation
        if not has_val:
            self.log("warning: the dataset has no validation split; the last weights are kept as the best")
        # the bar counts thousandths of the budget (steps, epochs or time, whichever ends first), so it shows a percent
        # and tqdm's time left; without a terminal, a plain line every PLAIN_EVERY seconds says the same
        self.bar = tqdm(
            total=PERMILLE, initial=self._permille(), file=sys.stderr, disable=not self.progress_bar, dynamic_ncols=True, leave=False,
            bar_format="{percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}",  # postfix: ", step N, loss …"
        )
        self.line_at = time.monotonic()
        self.model.train()
        with SignalFlag() as flag, self.bar:
            reason = self._loop(flag, has_val)
            self._finish(flag, has_val, reason)
        pos = self.pos
        return TrainResult(pos.step, pos.tokens, pos.elapsed, pos.best_val, self.last_val, reason, self.history)

    def _loop(self, flag: SignalFlag, has_val: bool) -> str:
        """Steps, with validation when due; returns why it stopped: "budget", "patience" or "signal"."""
        cfg, pos = self.cfg, self.pos
        self.clock = _Clock()
        while True:
            # evaluation is due (also right after resuming from a checkpoint taken before it)
            if has_val and pos.step > 0 and pos.step % cfg.eval_every == 0 and pos.last_eval_step != pos.step:
                # under torchrun all ranks finish the pass: a signal is agreed on at the next step
                done = self._validate(lambda: flag.signum is not None and self.group.world == 1)
                pos.elapsed += self.clock.pause()  # validation time counts against the budget, not the throughput
                if not done:
                    return "signal"  # a signal during validation: checkpoint, validate again on resume
                self.bar.set_postfix_str(self._postfix())
                if cfg.patience and pos.evals_since_best >= cfg.patience:
                    return "patience"
            progress = self.progress()
            if self.group.world > 1:  # all ranks stop at the same step and use the same learning rate
                signum, progress = self.group.agree([float(flag.signum or 0), progress])
                flag.signum = flag.signum or int(signum) or None
            if flag.signum is not None:
                return "signal"
            if progress >= 1.0:
                return "budget"
            self._step(lr_at(cfg, pos.step, progress))

    def _step(self, lr: float) -> None:
        """One training step and its bookkeeping: position, running sums, a metrics row every --log-every steps."""
        pos = self.pos
        loss, grad_norm, count = self._train_step(self._next_batch(), lr)
        if not math.isfinite(loss) or loss > self.task.diverged_above:
            raise TrainingDiverged(
                f"training diverged at step {pos.step + 1} (loss {loss:.4g}); nothing after the last checkpoint was saved",
                "resume or retrain with a lower --lr or a smaller --clip",
            )
        pos.step += 1
        pos.batch_in_epoch += 1
        pos.tokens += count
        pos.acc_loss += loss
        pos.acc_grad += grad_norm
        pos.acc_n += 1
        pos.elapsed += self.clock.tick(count)
        self.bar.update(self._permille() - self.bar.n)
        if pos.step % self.cfg.log_every == 0:
            self._log_row(lr)
        if not self.progress_bar and time.monotonic() - self.line_at >= self.plain_every:
            self.line_at = time.monotonic()
            self.log(self.progress_line())

    def _permille(self) -> int:
        return min(PERMILLE, int(self.progress() * PERMILLE))

    def progress_line(self) -> str:
        """Where training stands, for a log file: step, share of the budget, losses, throughput and time left."""
        done = self.progress()
        left = self.pos.elapsed * (1 - done) / done if done > 0 else None
        rate = next((r["tokens_per_s"] for r in reversed(self.history) if "tokens_per_s" in r), None)
        parts = [f"step {self.pos.step:,}", f"{done:.0%} of the budget"]
        parts += self._figures(rate)
        if left is not None:
            parts.append(f"{_minutes(left)} left")
        return " · ".join(parts)

    def _log_row(self, lr: float) -> None:
        pos = self.pos
        rate = self.clock.rate()
        (train_loss,) = self.group.mean([pos.acc_loss / pos.acc_n])  # over all ranks' rows
        self._write_row({
            "step": pos.step, "tokens": pos.tokens, "train_loss": train_loss, "lr": lr,
            "grad_norm": pos.acc_grad / pos.acc_n, "tokens_per_s": round(rate, 1), "elapsed_s": round(pos.elapsed, 3),
        })
        pos.acc_loss = pos.acc_grad = 0.0
        pos.acc_n = 0
        warning = self.watch.add(rate)
        if warning:
            self.log(warning)
        self.bar.set_postfix_str(self._postfix(rate))

    def _finish(self, flag: SignalFlag, has_val: bool, reason: str) -> None:
        """The last checkpoint: after a signal (then raise Interrupted), a final validation, or the last weights."""
        pos = self.pos
        if flag.signum is not None:
            self._checkpoint(best=not has_val)
            raise Interrupted(
                f"{signal.Signals(flag.signum).name} at step {pos.step}; checkpoint saved",
                flag.signum,
                f"continue with: {resume_command(self.run.path)}",
            )
        if has_val and reason == "budget" and pos.last_eval_step != pos.step:
            self._validate(lambda: False)
        elif self.saved_step != pos.step:
            self._checkpoint(best=not has_val)

    def _postfix(self, rate: float | None = None) -> str:
        return ", ".join([f"step {self.pos.step:,}", *self._figures(rate)])

    def _figures(self, rate: float | None = None) -> list[str]:
        """The last training and validation loss and the throughput, as the bar and the plain lines show them."""
        parts = []
        last_train = next((r["train_loss"] for r in reversed(self.history) if "train_loss" in r), None)
        if last_train is not None:
            parts.append(f"loss {last_train:.3f}")
        if self.last_val is not None:
            parts.append(f"val {self.last_val:.3f}")
        if rate:
            parts.append(f"{rate:,.0f} tok/s" + (" (collapsed: CPU shared?)" if self.watch.collapsed else ""))
        return parts


class _Clock:
    """Training time and throughput: time spent validating counts toward the budget, not against tokens/s."""

    def __init__(self) -> None:
        self.tick_at = self.row_start = time.perf_counter()
        self.row_tokens = 0

    def tick(self, tokens: int) -> float:
        """Seconds since the last tick (a step's time), counting `tokens` into the current row."""
        now = time.perf_counter()
        spent, self.tick_at = now - self.tick_at, now
        self.row_tokens += tokens
        return spent

    def pause(self) -> float:
        """Seconds since the last tick, left out of the row's throughput (a validation pass)."""
        now = time.perf_counter()
        spent, self.tick_at = now - self.tick_at, now
        self.row_start += spent
        return spent

    def rate(self) -> float:
        """Tokens per second over the row, then start the next row."""
        now = time.perf_counter()
        rate = self.row_tokens / max(1e-9, now - self.row_start)
        self.row_start, self.row_tokens = now, 0
        return rate
