"""MAVLink's command protocol on the sending side: COMMAND_LONG, answered by COMMAND_ACK, resent until it is.

One command of each MAV_CMD is outstanding at a time (COMMAND_ACK names only the command), so a newer one
replaces an older one still waiting. A resend carries the same params with `confirmation` counted up.
MAV_RESULT_IN_PROGRESS means "working on it": the wait starts again and nothing is resent. A STOP is
resent until it is answered, however long that takes; others give up after `max_retries` resends.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridscout.hardware.mavlink.mav import command_name, enum_name, mavlink


@dataclass(slots=True)
class PendingCommand:
    seq: int
    command: int
    params: tuple[float, float, float, float, float, float, float]
    #: for messages: 'DO_SET_MODE(BRAKE)'
    label: str
    sent_ns: int
    #: the driver's stop: resent until answered
    is_stop: bool = False
    #: set-up (stream rates, parameters): a refusal is a warning, not a refused command
    setup: bool = False
    #: resends so far (= the confirmation field of the latest one)
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Answer:
    pending: PendingCommand
    result: int

    @property
    def accepted(self) -> bool:
        return self.result == mavlink.MAV_RESULT_ACCEPTED

    @property
    def result_name(self) -> str:
        return enum_name("MAV_RESULT", self.result)


class CommandQueue:
    """The commands sent and not yet answered, by MAV_CMD."""

    def __init__(self, ack_timeout_s: float, max_retries: int) -> None:
        self.ack_timeout_ns = round(ack_timeout_s * 1e9)
        self.max_retries = max_retries
        self.pending: dict[int, PendingCommand] = {}

    def make(
        self,
        seq: int,
        command: int,
        params: tuple[float, ...],
        now_ns: int,
        *,
        label: str = "",
        is_stop: bool = False,
        setup: bool = False,
    ) -> PendingCommand:
        """A new command (the caller sends it), replacing one of the same MAV_CMD still waiting."""
        padded = (tuple(float(p) for p in params) + (0.0,) * 7)[:7]
        cmd = PendingCommand(seq, command, padded, label or command_name(command), now_ns, is_stop, setup)  # type: ignore[arg-type]
        self.pending[command] = cmd
        return cmd

    def answer(self, command: int, result: int, now_ns: int) -> Answer | None:
        """A COMMAND_ACK: the answer to the waiting command, or None (not ours, or only IN_PROGRESS)."""
        cmd = self.pending.get(command)
        if cmd is None:
            return None
        if result == mavlink.MAV_RESULT_IN_PROGRESS:
            cmd.sent_ns = now_ns  # it is working on it: wait again, do not resend
            return None
        del self.pending[command]
        return Answer(cmd, result)

    def due(self, now_ns: int) -> tuple[list[PendingCommand], list[PendingCommand]]:
        """(to resend, given up): commands unanswered for the ack timeout. The caller sends the first list
        (their `retries` already counted up); the second are dropped."""
        resend, given_up = [], []
        for command, cmd in list(self.pending.items()):
            if now_ns - cmd.sent_ns < self.ack_timeout_ns:
                continue
            if cmd.retries >= self.max_retries and not cmd.is_stop:
                del self.pending[command]
                given_up.append(cmd)
                continue
            cmd.retries += 1
            cmd.sent_ns = now_ns
            resend.append(cmd)
        return resend, given_up

    def next_due_ns(self) -> int | None:
        return min((c.sent_ns + self.ack_timeout_ns for c in self.pending.values()), default=None)

    @property
    def stop_pending(self) -> bool:
        return any(c.is_stop for c in self.pending.values())

    def clear(self, *, keep_stop: bool = False) -> None:
        self.pending = {k: c for k, c in self.pending.items() if keep_stop and c.is_stop}
