"""wattlake.reports: the smart-meter-etl case's reports (active agreements, half-hourly and
daily-per-product consumption) as Ibis expressions, plus their I/O edge and CLI."""
