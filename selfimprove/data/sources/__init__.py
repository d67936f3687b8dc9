"""Where question rows come from: local files (:mod:`.files`) and the Hugging Face hub (:mod:`.hub`)."""
