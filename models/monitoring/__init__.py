"""Monitoring of the PD model and the collection policy, by concern.

- `config`: `MonitorConfig` (thresholds, protected columns), traffic lights, period labels;
- `stability`: score PSI and feature CSI per observation month against the development sample;
- `performance`: AUC/Gini with DeLong intervals, observed vs expected with exact intervals and
  the Jeffreys test, per month and per grade (labelled rows);
- `portfolio`: vintage curves and roll-rate matrices from the statement history;
- `fairness`: per protected group calibration, AUC, tier mix and contact rates (fairlearn
  `MetricFrame`), the adverse impact ratio and the same at equal risk;
- `run`: `monitor`, one call from frames to a JSON-ready `MonitorResult`;
- `report`: the offline HTML dashboard.

Everything takes frames and returns plain data; reading and writing files is the stage's job.
"""
