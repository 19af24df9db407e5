{# The opinion sources the tags are built from, as a Jinja list. #}
{% macro opinion_sources() -%}
  {{ return(var('opinion_sources')) }}
{%- endmacro %}

{# Classifies one score pair with the workshop thresholds. #}
{% macro agreement_level(lexical, semantic) -%}
  case
    when {{ lexical }} >= {{ var('high_lexical') }} then 'verbatim'
    when {{ lexical }} < {{ var('low_lexical') }} and {{ semantic }} >= {{ var('high_semantic') }} then 'paraphrase'
    when {{ semantic }} >= {{ var('high_semantic') }} then 'agree'
    when {{ semantic }} < {{ var('low_semantic') }} then 'disagree'
    else 'uncertain'
  end
{%- endmacro %}
