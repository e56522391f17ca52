{#- The behaviour features from the evaluation's training reviews only: what the
    evaluation's segmentation sees, so no held-out review shapes a user's segment. -#}
{%- set training_reviews -%}
    (select * from {{ ref('int_reviews__evaluation_split') }} where evaluation_split = 'train') as training_reviews
{%- endset -%}

{{ user_behaviour_features(training_reviews) }}
