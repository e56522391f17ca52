{{ user_behaviour_features(ref('int_reviews__normalised')) }}
