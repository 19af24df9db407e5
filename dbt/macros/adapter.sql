{# Adapter differences live here; models call these macros only. #}

{% macro utc_date(column) -%}
  {{ return(adapter.dispatch('utc_date', 'actionlens')(column)) }}
{%- endmacro %}

{% macro default__utc_date(column) -%}
  cast(({{ column }} at time zone 'UTC') as date)
{%- endmacro %}

{% macro duckdb__utc_date(column) -%}
  cast(timezone('UTC', {{ column }}) as date)
{%- endmacro %}

{% macro bigquery__utc_date(column) -%}
  date({{ column }}, 'UTC')
{%- endmacro %}


{% macro parse_yyyymmdd(column) -%}
  {{ return(adapter.dispatch('parse_yyyymmdd', 'actionlens')(column)) }}
{%- endmacro %}

{% macro default__parse_yyyymmdd(column) -%}
  case when {{ column }} ~ '^[0-9]{8}$' then to_date({{ column }}, 'YYYYMMDD') end
{%- endmacro %}

{% macro duckdb__parse_yyyymmdd(column) -%}
  cast(try_strptime({{ column }}, '%Y%m%d') as date)
{%- endmacro %}

{% macro bigquery__parse_yyyymmdd(column) -%}
  safe.parse_date('%Y%m%d', {{ column }})
{%- endmacro %}


{% macro median(column) -%}
  {{ return(adapter.dispatch('median', 'actionlens')(column)) }}
{%- endmacro %}

{% macro default__median(column) -%}
  percentile_cont(0.5) within group (order by {{ column }})
{%- endmacro %}

{% macro duckdb__median(column) -%}
  median({{ column }})
{%- endmacro %}

{% macro bigquery__median(column) -%}
  approx_quantiles({{ column }}, 2)[offset(1)]
{%- endmacro %}
