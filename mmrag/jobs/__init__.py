"""The query engines of the jobs: caption, ask (retrieval-augmented and trained-VLM) and poem, with the
poem job's own retrieval helpers (imagery lexicon and route, hubness correction, cached index). Search
is its own package (mmrag.search), ingestion too (mmrag.ingestion); MMRag (mmrag.system) builds them all."""
