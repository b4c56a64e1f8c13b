// Conformance with the reference TuskLang SDKs: written in the next commit.
