"""The warehouse: raw tables loaded from MongoDB, modelled by the dbt project in dbt/."""
