{{ config(post_hook="{{ export_to_lake() }}") }}

select * from {{ ref('int_users__evaluation_features') }}
