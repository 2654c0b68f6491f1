"""Pipeline steps: one module per step, each a function of the runtime context and the run.

    silver_users.build   bronze.user_profiles → silver.user_profiles
    silver.build         bronze.meter_readings → silver readings, quarantine, gaps (VEE)
    quality_gate.check   the checks of one layer; error failures stop promotion
    gold.plan            which dates gold recomputes (pending silver runs, new weather/prices)
    enriched.build       gold.readings_enriched (weather + prices per reading)
    gold.build           hourly stats, energy flow with the P2P market, daily balance, peaks
    kpis.build           P2P KPIs per user and community, user profiles
    pv_modelled.build    gold.pv_modelled_hourly (pvlib next to metered PV)
    warehouse.build      the star schema for the recomputed dates
    gold.commit          checkpoint the applied silver runs

`pipeline.run.run_pipeline` calls them in this order through `pipeline.runner`; a DAG task
or a stream micro-batch calls the same functions.
"""
