"""Airflow listener plugin: every task state change, as it happens (see ``packaging_pipeline.task_progress``)."""

from __future__ import annotations

from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

from packaging_pipeline import task_progress


class TaskProgressListener:
    """Runs in the task's process: Airflow 3 reports running, success and failure (or retry) there."""

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        task_progress.record(task_progress.event_of(task_instance, "running"))

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        task_progress.record(task_progress.event_of(task_instance, "success"))

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        state = str(getattr(task_instance, "state", "") or "failed").rsplit(".", 1)[-1].lower()
        task_progress.record(task_progress.event_of(task_instance, "up_for_retry" if "retry" in state else "failed"))

    @hookimpl
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        task_progress.record(task_progress.event_of(task_instance, "skipped"))


class PackagingProgressPlugin(AirflowPlugin):
    name = "packaging_progress"
    listeners = [TaskProgressListener()]
