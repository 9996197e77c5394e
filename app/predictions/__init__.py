"""Per-customer predictions: BG/NBD purchase counts and Gamma-Gamma spend, fitted per shop.

- `bgnbd`, `gamma_gamma`: the models (pure NumPy/SciPy: `bgnbd.fit(frequency, recency, T)`,
  `gamma_gamma.fit(frequency, monetary)`), maximum likelihood with analytic gradients;
- `data`: stored orders to the models' inputs (counted orders, by UTC day, guests with no
  profile left out);
- `scoring`: churn risk, expected orders, next order, discounted CLV, spend tier (their
  definitions are in its docstring);
- `service`: the gate, `refit`, `score_customers`; `writes`: bulk updates of customers;
- `calibration`: the holdout check stored with each fit;
- `subscriber`: rescoring as orders change; `views`: the API shape; `cli`: `predictions fit`.
"""
