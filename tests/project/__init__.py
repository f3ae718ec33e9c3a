"""Tests of the project as a whole: its layout, README, import hygiene and the wheel."""
