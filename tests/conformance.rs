// Conformance with the reference TuskLang SDKs, on the real files of cyber-boost/tusktsk.
//
// The files live outside this repository, in `shared/conformance/tusktsk/` (and `probes/`)
// beside it; they are read in place and never copied here. Each `NAME.tsk` comes with
// `NAME.ref.json`, the output of the JavaScript SDK (the primary oracle); see SOURCE.md there
// and REFERENCE-BEHAVIOUR.md one folder up.
//
// The checks:
// 1. Every file loads in compat mode (`Mode::Compat`, the reference-SDK compatibility mode).
// 2. In the default mode, our document equals the oracle's, key path by key path, except for
//    the differences listed in `ALLOWED`, each with its cause and the rule that makes us differ.
//    Files that do not evaluate in the default mode (unknown operators, PHP code, bare
//    expressions) are compared in compat mode instead, as listed in `COMPARED_IN_COMPAT`.
//    Any new difference fails, and so does an allow-list entry that no longer matches anything,
//    so the list stays exact.
// 3. Every allowed difference names a cause whose rule cites LANGUAGE.md (or docs/language.md)
//    and REFERENCE-BEHAVIOUR.md.
// docs/conformance.md summarises the results.
//
// Determinism: the oracles ran with the clock frozen at 2025-07-04T12:34:56Z, an empty
// environment and an empty working directory. The harness matches that: it runs in a child
// process with only SOURCE_DATE_EPOCH set (`@env` reads the real process environment), and
// evaluates every file in an empty temporary directory, so cross-file operators find nothing.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use tusk::{Engine, Mode};

/// Why our document differs from the oracle's. The codes in brackets are those of
/// REFERENCE-BEHAVIOUR.md §11 ("Codes used for the defects").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// [ML] A value that spans lines.
    MultiLine,
    /// [IC] An inline `# comment`.
    InlineComment,
    /// [CAT] Concatenation with `+`.
    Concatenation,
    /// [ENV] `@env` and what is computed from it.
    Env,
    /// [DATE] `@date` letters.
    Date,
    /// [EXPR] Comparisons, logic and arithmetic.
    Expressions,
    /// [YAML] The indented form.
    IndentedForm,
    /// [NB] Nested blocks.
    NestedBlocks,
    /// [DOT] Dotted keys.
    DottedKeys,
    /// `[a.b]`, `[a-b]` and reopened sections.
    SectionHeaders,
    /// `$name` globals.
    Globals,
    /// Numbers and escapes.
    Literals,
    /// Items of inline arrays and objects.
    InlineCollections,
    /// Which names a bare word can refer to.
    Scope,
    /// `@if`, `@cache` and `@json` forms.
    CoreOperators,
    /// Operators that plugins provide, not the core.
    PluginOperators,
    /// `@stem.tsk.get` / `.set` with no such file.
    CrossFile,
    /// Compat mode: a value that fails to evaluate is its raw text.
    CompatValueText,
}

impl Cause {
    /// The rule that makes us differ, with where it is written down.
    fn rule(self) -> &'static str {
        match self {
            Cause::MultiLine => {
                "values span lines: `key: {`/`[`, multi-line strings, heredocs and operator arguments are parsed \
                 whole (LANGUAGE.md §2, REFERENCE-BEHAVIOUR.md §10.1); the oracle keeps a fragment such as \"{\" \
                 and leaks the inner lines as keys (REFERENCE-BEHAVIOUR.md §1)"
            }
            Cause::InlineComment => {
                "`#` after whitespace starts a comment (LANGUAGE.md §1); the oracle keeps it in the value \
                 (REFERENCE-BEHAVIOUR.md §2)"
            }
            Cause::Concatenation => {
                "`+` is an operator with spaces kept (LANGUAGE.md §3); the oracle takes outer-quoted values literally \
                 and stringifies Promises (REFERENCE-BEHAVIOUR.md §4)"
            }
            Cause::Env => {
                "`@env(name, default)` is evaluated (LANGUAGE.md §5); the oracle returns the call text \
                 (REFERENCE-BEHAVIOUR.md §6), also inside every value computed from it"
            }
            Cause::Date => {
                "`@date` formats PHP letters in one pass (LANGUAGE.md §5); the oracle replaces letters repeatedly \
                 (REFERENCE-BEHAVIOUR.md §6)"
            }
            Cause::Expressions => {
                "there is an expression grammar: `1 + 2` is 3, `a > 0` and `x != y` are bools, ternaries nest \
                 (LANGUAGE.md §3); the oracle keeps the text (REFERENCE-BEHAVIOUR.md §4)"
            }
            Cause::IndentedForm => {
                "`key:` followed by indented lines is an object, `- item` lines an array (LANGUAGE.md §2); the oracle \
                 flattens the children and drops the items (REFERENCE-BEHAVIOUR.md §3)"
            }
            Cause::NestedBlocks => {
                "blocks nest to any depth (LANGUAGE.md §2); the oracle merges or closes inner curly blocks \
                 (REFERENCE-BEHAVIOUR.md §3)"
            }
            Cause::DottedKeys => {
                "`a.b: v` sets `b` inside `a` (docs/language.md §2); the oracle drops dotted keys \
                 (REFERENCE-BEHAVIOUR.md §2)"
            }
            Cause::SectionHeaders => {
                "`[a.b]` opens a nested section, names may hold dashes, and reopening a section merges \
                 (LANGUAGE.md §1-2); the oracle ignores such headers and replaces reopened sections \
                 (REFERENCE-BEHAVIOUR.md §3)"
            }
            Cause::Globals => {
                "globals are variables, not data: they are not part of the output document (LANGUAGE.md §2); the \
                 oracle stores them under `$name` keys (REFERENCE-BEHAVIOUR.md §5)"
            }
            Cause::Literals => {
                "strings have escapes and `1e5`, `1_000`, `0xFF` are numbers (LANGUAGE.md §1); the oracle has neither \
                 (REFERENCE-BEHAVIOUR.md §2)"
            }
            Cause::InlineCollections => {
                "inline arrays and objects are parsed with the grammar, so quoted commas, nested brackets, `=` pairs \
                 and `name [ … ]` work (LANGUAGE.md §2); the oracle splits on commas (REFERENCE-BEHAVIOUR.md §3)"
            }
            Cause::Scope => {
                "a name refers to an earlier entry of its block, an enclosing block, its section or the top level \
                 (LANGUAGE.md §4); the oracle resolves only earlier keys of the same section \
                 (REFERENCE-BEHAVIOUR.md §5)"
            }
            Cause::CoreOperators => {
                "`@if(c, a, b)`, `@cache(seconds, v)` and `@json(value)` (JSON text) are the core forms \
                 (LANGUAGE.md §5); the oracle knows only `@if(c ? a : b)`, unit TTLs and `@json(op, data)` \
                 (REFERENCE-BEHAVIOUR.md §6)"
            }
            Cause::PluginOperators => {
                "@query, @metrics, @learn, @optimize, @feature, @graphql, @request.* … are not core operators \
                 (LANGUAGE.md §5): the file is compared in compat mode, where they are their text (LANGUAGE.md §4); \
                 the oracle runs stubs that return defaults or error objects (REFERENCE-BEHAVIOUR.md §6)"
            }
            Cause::CrossFile => {
                "`@stem.tsk.get`/`.set` evaluate `stem.tsk` next to the file (LANGUAGE.md §5), which does not exist \
                 here: compat mode keeps the text; the oracle gives null or the value (REFERENCE-BEHAVIOUR.md §5)"
            }
            Cause::CompatValueText => {
                "in compat mode a value that fails to evaluate (PHP calls, missing files, undefined globals) is its \
                 whole raw text (LANGUAGE.md §4 --compat); the oracle never fails either but evaluates the parts \
                 it can (REFERENCE-BEHAVIOUR.md §0, §4)"
            }
        }
    }
}

/// One group of deliberate differences: the key `paths` of `file`'s document, for one cause.
struct Allowed {
    file: &'static str,
    cause: Cause,
    /// What in this file the cause applies to.
    note: &'static str,
    paths: &'static [&'static str],
}

/// The deliberate differences, by file and cause. `x.*` matches `x` and every path below it.
#[rustfmt::skip]
const ALLOWED: &[Allowed] = &[
    // fujsen-api-echo
    Allowed { file: "fujsen-api-echo", cause: Cause::PluginOperators,
        note: "@request.*",
        paths: &["method", "headers", "ip", "user_agent", "format"] },
    Allowed { file: "fujsen-api-echo", cause: Cause::MultiLine,
        note: "`@json({` and `@render(\"` span lines; the oracle leaks their lines as keys",
        paths: &["json_response", "html_response", "body.*", "echo", "request", "query", "server", "timestamp",
            "powered_by", "cached_at", "intelligence", "optimized_response", "learned_preference",
            "metrics_recorded"] },
    // fujsen-api-echo-simple
    Allowed { file: "fujsen-api-echo-simple", cause: Cause::CoreOperators,
        note: "`@json(value)` is JSON text",
        paths: &["result.*"] },
    Allowed { file: "fujsen-api-echo-simple", cause: Cause::PluginOperators,
        note: "@request.*, @metrics",
        paths: &["format", "metrics_count"] },
    Allowed { file: "fujsen-api-echo-simple", cause: Cause::CompatValueText,
        note: "`@cache(\"1m\", php(time()))`",
        paths: &["cached_time"] },
    // fujsen-api-jit-benchmark
    Allowed { file: "fujsen-api-jit-benchmark", cause: Cause::MultiLine,
        note: "`test_data: {`, multi-line `php(function() { … })` bodies, a final `@json({`; PHP lines leak as keys",
        paths: &["test_data.*", "fibonacci_sequence", "prime_numbers", "matrix_operations", "jit_stats",
            "benchmark_results", "opcache_info", "system_metrics", "users", "config", "database", "cache",
            "performance.*", "metrics", "total_requests", "avg_response_time", "cache_hit_ratio", "$fib", "$primes",
            "$isPrime", "$a", "$b", "$result", "$jitOptimizer", "$testCode", "$results", "$info", "$status",
            "$stats", "php_version", "memory_limit", "current_memory", "peak_memory", "execution_time", "cpu_cores",
            "$cores", "status", "message", "timestamp", "jit_optimization", "enabled", "mode", "buffer_size",
            "performance_metrics", "computational_tests", "fibonacci_20", "primes_up_to_100",
            "matrix_2x2_multiplication", "system_info", "opcache", "system", "test_data_size", "recommendations",
            "$recommendations", "powered_by"] },
    // fujsen-api-registry
    Allowed { file: "fujsen-api-registry", cause: Cause::MultiLine,
        note: "`edge_nodes: [` spans lines",
        paths: &["cdn.edge_nodes"] },
    // fujsen-api-status
    Allowed { file: "fujsen-api-status", cause: Cause::PluginOperators,
        note: "@metrics, @learn, @optimize, and text built from them",
        paths: &["memory_usage", "peak_memory", "db_response_time", "cache_hits", "cache_misses", "api_requests",
            "avg_response_time", "optimal_cache_ttl", "recommended_memory", "cache_ratio"] },
    Allowed { file: "fujsen-api-status", cause: Cause::CompatValueText,
        note: "`php(…)` and `@Query(…)` inside `@cache`",
        paths: &["uptime", "db_status"] },
    Allowed { file: "fujsen-api-status", cause: Cause::MultiLine,
        note: "the final `@json({` spans lines; the oracle leaks its lines as keys",
        paths: &["status", "timestamp", "system", "memory", "current", "peak", "recommended", "cache", "hits",
            "misses", "hit_ratio", "optimal_ttl", "database", "response_time", "api", "total_requests",
            "current_load", "environment", "powered_by", "version", "request_id"] },
    // fujsen-api-test
    Allowed { file: "fujsen-api-test", cause: Cause::CompatValueText,
        note: "`@cache(\"1m\", php(time()))`",
        paths: &["time"] },
    // fujsen-api-test-minimal
    Allowed { file: "fujsen-api-test-minimal", cause: Cause::CoreOperators,
        note: "`@json(value)` is JSON text",
        paths: &["result.*"] },
    // fujsen-api-users
    Allowed { file: "fujsen-api-users", cause: Cause::PluginOperators,
        note: "@Query, @request.*, @optimize, @learn, @metrics",
        paths: &["total_users", "page", "limit", "users", "response_format"] },
    Allowed { file: "fujsen-api-users", cause: Cause::CompatValueText,
        note: "`@cache(\"5m\", @Query(…).findAll())`",
        paths: &["active_users"] },
    Allowed { file: "fujsen-api-users", cause: Cause::MultiLine,
        note: "`response: @json({` spans lines; the oracle leaks its lines as keys",
        paths: &["response", "success", "data", "active_count", "total_count", "pagination", "has_more", "meta",
            "cached_active", "request_method", "request_time", "format"] },
    // fujsen-examples-database-test
    Allowed { file: "fujsen-examples-database-test", cause: Cause::MultiLine,
        note: "`api_config: {` and friends span lines; the oracle leaks their lines as keys",
        paths: &["api_config.*", "performance.*", "intelligence.*", "rate_limit", "max_connections", "debug_mode",
            "user_load", "post_volume", "cached_stats", "optimal_limit", "predicted_load"] },
    // fujsen-examples-enhanced-demo
    Allowed { file: "fujsen-examples-enhanced-demo", cause: Cause::Globals,
        note: "",
        paths: &["$app_name", "$version", "$global_port"] },
    Allowed { file: "fujsen-examples-enhanced-demo", cause: Cause::Date,
        note: "`@date(\"c\")`",
        paths: &["iso_date"] },
    Allowed { file: "fujsen-examples-enhanced-demo", cause: Cause::Env,
        note: "",
        paths: &["database.host", "database.cache.host", "api.logging.level", "monitoring.alerts.email",
            "monitoring.alerts.slack_webhook"] },
    Allowed { file: "fujsen-examples-enhanced-demo", cause: Cause::InlineComment,
        note: "`url: base_url  # References section-local variable`",
        paths: &["database.server.url"] },
    Allowed { file: "fujsen-examples-enhanced-demo", cause: Cause::PluginOperators,
        note: "@optimize, @query, @metrics, @learn, @feature",
        paths: &["database.max_connections", "database.cache.ttl.*", "api.rate_limit.*", "api.allowed_ips.*",
            "api.user_count.*", "api.metrics", "api.optimal_batch_size", "api.learned_timeout", "api.features.*",
            "monitoring.performance.optimization_level", "features.experimental"] },
    Allowed { file: "fujsen-examples-enhanced-demo", cause: Cause::CrossFile,
        note: "no config.tsk, api.tsk or database.tsk exists next to the file",
        paths: &["external_config.*"] },
    Allowed { file: "fujsen-examples-enhanced-demo", cause: Cause::MultiLine,
        note: "`dependencies: [` spans lines",
        paths: &["services.dependencies"] },
    // fujsen-examples-test-integration
    Allowed { file: "fujsen-examples-test-integration", cause: Cause::CompatValueText,
        note: "`php(time())` and `@DEBUG_MODE || false` (compat: text)",
        paths: &["timestamp", "cached_time", "debug_mode"] },
    Allowed { file: "fujsen-examples-test-integration", cause: Cause::PluginOperators,
        note: "@metrics, @learn, @optimize",
        paths: &["cpu_usage", "current_cpu", "optimal_workers", "cache_efficiency"] },
    Allowed { file: "fujsen-examples-test-integration", cause: Cause::MultiLine,
        note: "`performance: {` and `status: {` span lines",
        paths: &["performance.*", "status.*", "workers", "cache_size", "debug", "cached_at", "cpu_load"] },
    // fujsen-examples-ultimate-freedom
    Allowed { file: "fujsen-examples-ultimate-freedom", cause: Cause::Globals,
        note: "",
        paths: &["$company", "$environment", "$base_port", "$api_version", "$current_year"] },
    Allowed { file: "fujsen-examples-ultimate-freedom", cause: Cause::Env,
        note: "also ternaries on `$environment` (`max_connections`, `replicas`, `level`)",
        paths: &["environment", "database.primary_host", "database.primary_port", "database.primary_name",
            "database.cache.host", "database.cache.port", "monitoring.notification_channels.email.smtp_host",
            "database.max_connections", "api.deployment.replicas", "logging.level",
            "logging.outputs.elasticsearch.index", "monitoring.notification_channels.slack.channels"] },
    Allowed { file: "fujsen-examples-ultimate-freedom", cause: Cause::InlineComment,
        note: "`memory_range: 128-2048  # MB` is a range",
        paths: &["memory_range.*"] },
    Allowed { file: "fujsen-examples-ultimate-freedom", cause: Cause::Expressions,
        note: "`$environment == \"production\"` and `alert_threshold > 0` evaluate",
        paths: &["database.server.ssl.enabled", "monitoring.alerts_enabled"] },
    Allowed { file: "fujsen-examples-ultimate-freedom", cause: Cause::CompatValueText,
        note: "@file of a missing certificate, and `@hash($.)`, are their text",
        paths: &["database.server.ssl.cert.*", "database.server.ssl.key.*", "experimental.config_hash.*"] },
    Allowed { file: "fujsen-examples-ultimate-freedom", cause: Cause::NestedBlocks,
        note: "`pools {` nests; the oracle closes it early and misplaces its keys",
        paths: &["database.cache.pools.*", "database.cache.sessions.*", "database.cache.api.*",
            "database.cache.static.*"] },
    Allowed { file: "fujsen-examples-ultimate-freedom", cause: Cause::CrossFile,
        note: "no secrets.tsk, limits.tsk, features.tsk or metrics.tsk exists next to the file",
        paths: &["external_configs.*", "monitoring.notification_channels.slack.webhook"] },
    Allowed { file: "fujsen-examples-ultimate-freedom", cause: Cause::MultiLine,
        note: "`pagerduty: {`, `endpoints: {`, `file: {`, `console: {`, multi-line operator arguments",
        paths: &["monitoring.notification_channels.pagerduty.*", "monitoring.notification_channels.enabled",
            "monitoring.notification_channels.api_key", "monitoring.notification_channels.severity",
            "api.endpoints.*", "api.health", "api.status", "api.metrics", "logging.outputs.file.*",
            "logging.outputs.console.*", "logging.outputs.enabled", "logging.outputs.rotation",
            "logging.outputs.retention", "logging.outputs.format", "logging.outputs.path", "logging.debug",
            "logging.info", "logging.warning", "logging.error", "logging.sampling_rate",
            "experimental.immutable_settings", "experimental.ai_optimization", "experimental.cache_size",
            "experimental.worker_count", "experimental.gc_threshold", "experimental.company",
            "experimental.launched", "experimental.version"] },
    Allowed { file: "fujsen-examples-ultimate-freedom", cause: Cause::PluginOperators,
        note: "@optimize, @query, @learn, @metrics, @feature",
        paths: &["database.pool_timeout", "database.active_users.*", "database.db_size.*",
            "database.slow_queries.*", "database.optimal_connections", "database.server.workers",
            "database.server.performance.request_timeout", "database.cache.default_ttl",
            "database.cache.preload_keys.*", "monitoring.high_cpu_servers.*", "monitoring.memory_warnings.*",
            "monitoring.optimal_threshold", "monitoring.notification_channels.email.recipients.*",
            "monitoring.notification_channels.slack.enabled", "api.rate_limits.*", "api.features.*",
            "api.deployment.auto_scale.*", "logging.outputs.elasticsearch.enabled",
            "logging.outputs.elasticsearch.hosts.*", "experimental.quantum_safe"] },
    // fujsen-src-db-energy-trunk-default
    Allowed { file: "fujsen-src-db-energy-trunk-default", cause: Cause::DottedKeys,
        note: "the eight `default.active = true` lines of `[channels]`",
        paths: &["channels.*"] },
    // plugins-installed-database-optimizer-manifest
    Allowed { file: "plugins-installed-database-optimizer-manifest", cause: Cause::MultiLine,
        note: "newline-separated arrays and objects; their inner lines leak as top-level keys",
        paths: &["dependencies", "hooks", "commands", "permissions", "files", "screenshots", "config.*",
            "requirements.*", "metadata.*", "changelog.*", "auto_optimize", "query_analysis",
            "index_recommendations", "performance_monitoring", "alert_threshold", "php_version", "tusklang_version",
            "extensions", "created_at", "updated_at", "downloads", "rating", "reviews", "license", "homepage",
            "documentation", "support"] },
    // plugins-installed-database-optimizer-peanu
    Allowed { file: "plugins-installed-database-optimizer-peanu", cause: Cause::IndentedForm,
        note: "the whole file is in the indented form: the oracle flattens it and drops the section names",
        paths: &["plugin.*", "database.*", "server.*", "plugin_config.*", "features.*", "dependencies.*",
            "overrides.*", "integration.*", "performance.*", "optimization.*", "monitoring.*", "api.*",
            "security.*", "meta.*", "name", "version", "author", "description", "installed_at", "type", "host",
            "port", "pool_size", "timeout", "ssl", "workers", "max_connections", "keep_alive", "gzip", "enabled",
            "auto_load", "cache_enabled", "debug_mode", "optimization_level", "monitoring_interval",
            "auto_optimize", "backup_before_optimize", "query_optimization", "index_analysis",
            "performance_monitoring", "automatic_maintenance", "slow_query_detection", "connection_pooling",
            "query_caching", "deadlock_detection", "tusk-core", "fujsen-operators", "cache-manager", "cache_ttl",
            "log_level", "query_timeout", "memory_limit", "inherit_security", "inherit_database", "inherit_cache",
            "inherit_logging", "custom_routes", "api_endpoints", "webhook_support", "real_time_monitoring",
            "binary_compilation", "cache_warming", "lazy_loading", "memory_optimization", "parallel_processing",
            "jit_optimization", "auto_vacuum", "analyze_tables", "optimize_indexes", "clean_logs", "compress_data",
            "partition_tables", "archive_old_data", "retention_days", "metrics_collection", "slow_query_time",
            "high_memory_usage", "connection_limit", "error_rate", "base_path", "authentication", "rate_limiting",
            "api_key_required", "ip_whitelist", "request_signing", "audit_logging", "sensitive_data_masking",
            "config_type", "parent_config", "inheritance_chain", "compiled_at", "tusk_version", "plugin_category",
            "plugin_tags"] },
    // probes/probe-lexical
    Allowed { file: "probes/probe-lexical", cause: Cause::Literals,
        note: "`\"x \\\" y\"` is an escape; `1.23e-4`, `1_000`, `0xFF` are numbers",
        paths: &["s_dq", "n_exp", "n_under", "n_hex"] },
    Allowed { file: "probes/probe-lexical", cause: Cause::Expressions,
        note: "arithmetic, logic, nested ternaries; `8000 - 9000` and `1.5-2.5` are subtractions",
        paths: &["r_spaced", "r_float", "add_num", "add_str", "add_nospace", "mul", "sub", "paren", "cmp_gt",
            "tern_nested", "and_op", "or_op", "not_op"] },
    Allowed { file: "probes/probe-lexical", cause: Cause::DottedKeys,
        note: "`Key.dotted: 2`",
        paths: &["Key.dotted"] },
    Allowed { file: "probes/probe-lexical", cause: Cause::InlineCollections,
        note: "quoted commas, nested brackets and `=` pairs inside `[ ]` and `{ }`",
        paths: &["arr_objs", "obj_inline.c", "obj_eq.*"] },
    // probes/probe-operators
    Allowed { file: "probes/probe-operators", cause: Cause::Env,
        note: "",
        paths: &["env1", "env2", "env3", "env4", "env5", "in_arr", "spaces"] },
    Allowed { file: "probes/probe-operators", cause: Cause::Date,
        note: "`c` and `D` letters",
        paths: &["date3", "date6"] },
    Allowed { file: "probes/probe-operators", cause: Cause::CrossFile,
        note: "no config.tsk exists next to the file",
        paths: &["xf1", "xf2"] },
    Allowed { file: "probes/probe-operators", cause: Cause::CoreOperators,
        note: "`@if(c, a, b)`, `@cache(300, v)`; `@json(\"parse\", t)` has one argument too many (compat: text)",
        paths: &["if_call", "cache2", "json1.*", "json2.*"] },
    Allowed { file: "probes/probe-operators", cause: Cause::PluginOperators,
        note: "@learn, @optimize, @metrics, @feature, @query, @string, @hash, @base64",
        paths: &["learn", "opt", "met", "feat", "q1.*", "q2.*", "str1", "hash1", "b64"] },
    // probes/probe-scope
    Allowed { file: "probes/probe-scope", cause: Cause::Globals,
        note: "",
        paths: &["$g", "beta.$later"] },
    Allowed { file: "probes/probe-scope", cause: Cause::Scope,
        note: "top-level and block keys are names; `${g}` names nothing (compat: its text)",
        paths: &["use_top", "beta.obj.ref_inner", "interp2"] },
    Allowed { file: "probes/probe-scope", cause: Cause::SectionHeaders,
        note: "the reopened `[alpha]` merges; the oracle replaces its contents",
        paths: &["alpha.*"] },
    // probes/probe-sections
    Allowed { file: "probes/probe-sections", cause: Cause::SectionHeaders,
        note: "the oracle ignores `[a.b]`, `[a-b]`, `[ spaced ]`: their keys fall into `[first]`",
        paths: &["a.b.*", "a-b.*", "spaced.*", "first.k2", "first.k3", "first.k4", "first.k5", "first.obj.*",
            "first.obj2.*"] },
    // sdk-bash-test-simple
    Allowed { file: "sdk-bash-test-simple", cause: Cause::Globals,
        note: "",
        paths: &["$global_var"] },
    // sdk-csharp-examples-enhanced_demo
    Allowed { file: "sdk-csharp-examples-enhanced_demo", cause: Cause::Globals,
        note: "",
        paths: &["$app_name", "$version", "$environment"] },
    Allowed { file: "sdk-csharp-examples-enhanced_demo", cause: Cause::PluginOperators,
        note: "@metrics, @optimize, @learn: the oracle's stubs return the default",
        paths: &["database.metrics_enabled", "database.optimized_workers", "database.learned_timeout"] },
    Allowed { file: "sdk-csharp-examples-enhanced_demo", cause: Cause::PluginOperators,
        note: "@query: the oracle has no sqlite3 and returns an error object",
        paths: &["database.user_count.*", "database.active_users.*", "database.system_stats.*"] },
    Allowed { file: "sdk-csharp-examples-enhanced_demo", cause: Cause::CrossFile,
        note: "no config.tsk or cache.tsk exists next to the file",
        paths: &["database.shared_config", "database.cache_setting"] },
    Allowed { file: "sdk-csharp-examples-enhanced_demo", cause: Cause::Date,
        note: "`@date(\"c\")`",
        paths: &["database.build_date"] },
    Allowed { file: "sdk-csharp-examples-enhanced_demo", cause: Cause::Concatenation,
        note: "`\"/var/log/\" + $app_name + \".log\"`",
        paths: &["database.log_file", "database.api_endpoint"] },
    Allowed { file: "sdk-csharp-examples-enhanced_demo", cause: Cause::Env,
        note: "`$environment == \"development\"` compares an evaluated `@env`; the oracle compares its text",
        paths: &["database.debug_mode"] },
    Allowed { file: "sdk-csharp-examples-enhanced_demo", cause: Cause::Env,
        note: "",
        paths: &["database.postgresql.user", "database.postgresql.password", "dotnet.aspnet_core.environment",
            "dotnet.aspnet_core.detailed_errors"] },
    Allowed { file: "sdk-csharp-examples-enhanced_demo", cause: Cause::InlineComment,
        note: "",
        paths: &["dotnet.admin_email", "dotnet.support_email", "dotnet.nuget_source"] },
    // sdk-go-testdata-complex
    Allowed { file: "sdk-go-testdata-complex", cause: Cause::IndentedForm,
        note: "children promoted to the top level (overwriting `version`, `port`), `- item` lines dropped",
        paths: &["version", "port", "database.*", "features", "api.*", "logging.*", "cache.*", "host", "name",
            "user", "password", "ssl_mode", "max_connections", "timeout", "rate_limit", "level", "format", "output",
            "path", "max_size", "max_age", "compress", "type", "ttl", "prefix"] },
    // sdk-go-testdata-enhanced_sample
    Allowed { file: "sdk-go-testdata-enhanced_sample", cause: Cause::Globals,
        note: "",
        paths: &["$app_name", "$version", "$environment"] },
    Allowed { file: "sdk-go-testdata-enhanced_sample", cause: Cause::PluginOperators,
        note: "@metrics, @optimize, @learn: the oracle's stubs return the default",
        paths: &["database.metrics_enabled", "database.optimized_workers", "database.learned_timeout"] },
    Allowed { file: "sdk-go-testdata-enhanced_sample", cause: Cause::PluginOperators,
        note: "@query: the oracle has no sqlite3 and returns an error object",
        paths: &["database.user_count.*", "database.active_users.*", "database.system_stats.*"] },
    Allowed { file: "sdk-go-testdata-enhanced_sample", cause: Cause::CrossFile,
        note: "no config.tsk or cache.tsk exists next to the file",
        paths: &["database.shared_config", "database.cache_setting"] },
    Allowed { file: "sdk-go-testdata-enhanced_sample", cause: Cause::Date,
        note: "`@date(\"c\")`",
        paths: &["database.build_date"] },
    Allowed { file: "sdk-go-testdata-enhanced_sample", cause: Cause::Concatenation,
        note: "`\"/var/log/\" + $app_name + \".log\"`",
        paths: &["database.log_file"] },
    Allowed { file: "sdk-go-testdata-enhanced_sample", cause: Cause::Env,
        note: "`$environment == \"development\"` compares an evaluated `@env`; the oracle compares its text",
        paths: &["database.debug_mode"] },
    Allowed { file: "sdk-go-testdata-enhanced_sample", cause: Cause::Env,
        note: "",
        paths: &["database.postgresql.user", "database.postgresql.password"] },
    Allowed { file: "sdk-go-testdata-enhanced_sample", cause: Cause::InlineComment,
        note: "",
        paths: &["database.admin_email", "database.support_email"] },
    // sdk-go-testdata-sample
    Allowed { file: "sdk-go-testdata-sample", cause: Cause::IndentedForm,
        note: "children promoted to the top level (overwriting `version`, `port`), `- item` lines dropped",
        paths: &["database.*", "features", "host", "port", "user", "password"] },
    // sdk-java-peanut
    Allowed { file: "sdk-java-peanut", cause: Cause::Globals,
        note: "",
        paths: &["$app_name", "$version", "$environment"] },
    Allowed { file: "sdk-java-peanut", cause: Cause::Env,
        note: "",
        paths: &["features.query_logging", "logging.level", "logging.output", "server.host", "server.port"] },
    Allowed { file: "sdk-java-peanut", cause: Cause::PluginOperators,
        note: "@optimize and @learn",
        paths: &["database.pool_size", "features.cache_enabled", "features.experimental.async_operators",
            "server.workers", "development.hot_reload"] },
    Allowed { file: "sdk-java-peanut", cause: Cause::NestedBlocks,
        note: "`connections {` and `experimental {` are merged into their parents by the oracle",
        paths: &["database.connections.*", "database.postgresql", "database.mysql", "database.h2",
            "features.experimental.jit_compilation", "features.jit_compilation", "features.async_operators"] },
    Allowed { file: "sdk-java-peanut", cause: Cause::InlineCollections,
        note: "`levels [debug, info]` (no `:`) is an array block (docs/language.md §2); the oracle drops it",
        paths: &["logging.levels"] },
    // sdk-java-testdata-sample
    Allowed { file: "sdk-java-testdata-sample", cause: Cause::IndentedForm,
        note: "children promoted to the top level (overwriting `version`, `port`), `- item` lines dropped",
        paths: &["version", "port", "database.*", "features", "api.*", "logging.*", "cache.*", "host", "name",
            "user", "password", "rate_limit", "timeout", "level", "format", "output", "type", "ttl"] },
    // sdk-php-tests-test_enhanced
    Allowed { file: "sdk-php-tests-test_enhanced", cause: Cause::Globals,
        note: "",
        paths: &["$app_name", "$version", "$environment"] },
    Allowed { file: "sdk-php-tests-test_enhanced", cause: Cause::Env,
        note: "",
        paths: &["environment", "database.server.host", "database.server.port"] },
    Allowed { file: "sdk-php-tests-test_enhanced", cause: Cause::Expressions,
        note: "comparisons of `$environment`",
        paths: &["debug", "features.auto_optimization"] },
    Allowed { file: "sdk-php-tests-test_enhanced", cause: Cause::Date,
        note: "`@date(\"c\")`",
        paths: &["timestamps.iso_date"] },
    Allowed { file: "sdk-php-tests-test_enhanced", cause: Cause::CrossFile,
        note: "no config.tsk or secrets.tsk exists next to the file",
        paths: &["external.db_config", "external.shared_secret"] },
    Allowed { file: "sdk-php-tests-test_enhanced", cause: Cause::Concatenation,
        note: "the oracle concatenates a Promise",
        paths: &["messages.greeting"] },
    Allowed { file: "sdk-php-tests-test_enhanced", cause: Cause::MultiLine,
        note: "`settings: {` spans lines; its lines leak into `config`",
        paths: &["config.settings.*", "config.max_connections", "config.timeout", "config.retry_count"] },
    Allowed { file: "sdk-php-tests-test_enhanced", cause: Cause::PluginOperators,
        note: "@query (the oracle has no sqlite3), @metrics, @feature",
        paths: &["queries.user_count.*", "queries.active_users.*", "advanced.system_metric",
            "advanced.feature_flag"] },
    // sdk-python-peanut
    Allowed { file: "sdk-python-peanut", cause: Cause::Globals,
        note: "",
        paths: &["$app_name", "$version"] },
    // sdk-python-tests-test_enhanced
    Allowed { file: "sdk-python-tests-test_enhanced", cause: Cause::Globals,
        note: "",
        paths: &["$app_name", "$version", "$environment"] },
    Allowed { file: "sdk-python-tests-test_enhanced", cause: Cause::Env,
        note: "",
        paths: &["environment", "database.server.host", "database.server.port"] },
    Allowed { file: "sdk-python-tests-test_enhanced", cause: Cause::Expressions,
        note: "comparisons of `$environment`",
        paths: &["debug", "features.auto_optimization"] },
    Allowed { file: "sdk-python-tests-test_enhanced", cause: Cause::Date,
        note: "`@date(\"c\")`",
        paths: &["timestamps.iso_date"] },
    Allowed { file: "sdk-python-tests-test_enhanced", cause: Cause::CrossFile,
        note: "no config.tsk or secrets.tsk exists next to the file",
        paths: &["external.db_config", "external.shared_secret"] },
    Allowed { file: "sdk-python-tests-test_enhanced", cause: Cause::Concatenation,
        note: "the oracle concatenates a Promise",
        paths: &["messages.greeting"] },
    Allowed { file: "sdk-python-tests-test_enhanced", cause: Cause::MultiLine,
        note: "`settings: {` spans lines; its lines leak into `config`",
        paths: &["config.settings.*", "config.max_connections", "config.timeout", "config.retry_count"] },
    Allowed { file: "sdk-python-tests-test_enhanced", cause: Cause::PluginOperators,
        note: "@query (the oracle has no sqlite3), @metrics, @feature",
        paths: &["queries.user_count.*", "queries.active_users.*", "advanced.system_metric",
            "advanced.feature_flag"] },
    // sdk-ruby-examples-enhanced_demo
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::Globals,
        note: "",
        paths: &["$app_name", "$version", "$environment"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::PluginOperators,
        note: "@metrics, @optimize, @learn: the oracle's stubs return the default",
        paths: &["database.metrics_enabled", "database.optimized_workers", "database.learned_timeout"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::PluginOperators,
        note: "@query: the oracle has no sqlite3 and returns an error object",
        paths: &["database.user_count.*", "database.active_users.*", "database.system_stats.*"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::CrossFile,
        note: "no config.tsk or cache.tsk exists next to the file",
        paths: &["database.shared_config", "database.cache_setting"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::Date,
        note: "`@date(\"c\")`",
        paths: &["database.build_date"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::Concatenation,
        note: "`\"/var/log/\" + $app_name + \".log\"`",
        paths: &["database.log_file", "database.api_endpoint"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::Env,
        note: "`$environment == \"development\"` compares an evaluated `@env`; the oracle compares its text",
        paths: &["database.debug_mode"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::Env,
        note: "`verbose` compares `$environment`, which the oracle left as call text",
        paths: &["database.postgresql.username", "database.postgresql.password", "database.redis.url",
            "rails.secret_key_base", "rails.sidekiq.verbose"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::Concatenation,
        note: "the oracle concatenates a Promise",
        paths: &["rails.action_cable.channel_prefix"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::CompatValueText,
        note: "`$log_level` is never defined: compat keeps the text, the oracle gives null",
        paths: &["rails.log_level"] },
    Allowed { file: "sdk-ruby-examples-enhanced_demo", cause: Cause::InlineComment,
        note: "",
        paths: &["rails.admin_email", "rails.support_email", "rails.gem_source"] },
    // sdk-rust-testdata-enhanced_sample
    Allowed { file: "sdk-rust-testdata-enhanced_sample", cause: Cause::Globals,
        note: "",
        paths: &["$app_name", "$version", "$environment"] },
    Allowed { file: "sdk-rust-testdata-enhanced_sample", cause: Cause::PluginOperators,
        note: "@metrics, @optimize, @learn: the oracle's stubs return the default",
        paths: &["database.metrics_enabled", "database.optimized_workers", "database.learned_timeout"] },
    Allowed { file: "sdk-rust-testdata-enhanced_sample", cause: Cause::PluginOperators,
        note: "@query: the oracle has no sqlite3 and returns an error object",
        paths: &["database.user_count.*", "database.active_users.*", "database.system_stats.*"] },
    Allowed { file: "sdk-rust-testdata-enhanced_sample", cause: Cause::CrossFile,
        note: "no config.tsk or cache.tsk exists next to the file",
        paths: &["database.shared_config", "database.cache_setting"] },
    Allowed { file: "sdk-rust-testdata-enhanced_sample", cause: Cause::Date,
        note: "`@date(\"c\")`",
        paths: &["database.build_date"] },
    Allowed { file: "sdk-rust-testdata-enhanced_sample", cause: Cause::Concatenation,
        note: "`\"/var/log/\" + $app_name + \".log\"`",
        paths: &["database.log_file", "database.api_endpoint"] },
    Allowed { file: "sdk-rust-testdata-enhanced_sample", cause: Cause::Env,
        note: "`$environment == \"development\"` compares an evaluated `@env`; the oracle compares its text",
        paths: &["database.debug_mode"] },
    Allowed { file: "sdk-rust-testdata-enhanced_sample", cause: Cause::Env,
        note: "",
        paths: &["database.postgresql.user", "database.postgresql.password"] },
    Allowed { file: "sdk-rust-testdata-enhanced_sample", cause: Cause::InlineComment,
        note: "",
        paths: &["performance.admin_email", "performance.support_email", "performance.rust_channel"] },
    // sdk-rust-testdata-sample
    Allowed { file: "sdk-rust-testdata-sample", cause: Cause::IndentedForm,
        note: "children promoted to the top level (overwriting `version`, `port`), `- item` lines dropped",
        paths: &["version", "port", "database.*", "features", "api.*", "logging.*", "cache.*", "host", "name",
            "user", "password", "ssl_mode", "max_connections", "timeout", "rate_limit", "level", "format", "output",
            "path", "max_size", "max_age", "compress", "type", "ttl", "prefix"] },
    // tests-graphql-demo
    Allowed { file: "tests-graphql-demo", cause: Cause::PluginOperators,
        note: "@graphql (the oracle wants a URL first and returns an error object)",
        paths: &["queries.users.*", "queries.external_users.*", "integration.*", "performance.cached_users.*",
            "performance.cached_posts.*"] },
    Allowed { file: "tests-graphql-demo", cause: Cause::MultiLine,
        note: "multi-line query strings: the oracle keeps `\"@graphql(\\\"\"` and reads the query bodies as blocks",
        paths: &["queries.user_by_id", "queries.user_posts", "queries.profile", "queries.posts", "mutations.*",
            "subscriptions.*", "advanced.*", "performance.paginated_users", "performance.edges",
            "performance.pageInfo", "error_handling.*", "business.*", "config.*", "monitoring.*", "security.*"] },
    // tests-hello
    Allowed { file: "tests-hello", cause: Cause::MultiLine,
        note: "a PHP heredoc (`<<<'HTML'` … `HTML`) is one string; the oracle reads its CSS as keys",
        paths: &["output", "body.*", "h1.*", "background", "padding", "border-radius", "box-shadow", "text-align",
            "max-width", "font-size", "margin", "font-weight", "color"] },
    // tests-pure-hello
    Allowed { file: "tests-pure-hello", cause: Cause::MultiLine,
        note: "a heredoc (`<<<HTML` … `HTML`) is one string; the oracle reads its CSS as keys",
        paths: &["html_output", "body.*", "background", "padding", "border-radius", "box-shadow", "text-align",
            "margin"] },
    // tests-simple
    Allowed { file: "tests-simple", cause: Cause::MultiLine,
        note: "`php(\"` spans lines (compat: its whole text)",
        paths: &["output"] },
    // tests-simple-graphql-test
    Allowed { file: "tests-simple-graphql-test", cause: Cause::PluginOperators,
        note: "@graphql (the oracle wants a URL first and returns an error object)",
        paths: &["data.users.*"] },
    // tests-test-graphql-integration
    Allowed { file: "tests-test-graphql-integration", cause: Cause::PluginOperators,
        note: "@graphql (the oracle wants a URL first and returns an error object)",
        paths: &["data.users.*", "test.simple_query.*"] },
    Allowed { file: "tests-test-graphql-integration", cause: Cause::MultiLine,
        note: "a multi-line query string",
        paths: &["test.complex_query", "test.posts"] },
];

/// Files that do not evaluate in the default mode, and why; they are compared in compat mode,
/// which is what the reference SDKs do with them (unknown operators and code stay text).
const COMPARED_IN_COMPAT: &[(&str, &str)] = &[
    ("fujsen-api-echo", "FUJSEN API script: its last line is a bare expression, not an entry (LANGUAGE.md §2)"),
    (
        "fujsen-api-echo-simple",
        "@request.* and @metrics are plugin operators and `php(time())` is PHP (LANGUAGE.md §5)",
    ),
    (
        "fujsen-api-jit-benchmark",
        "embeds PHP functions (`php(function($n) { … })`), which are not TuskLang expressions",
    ),
    ("fujsen-api-status", "FUJSEN API script: it ends in a bare `@json({ … })` expression, not an entry"),
    ("fujsen-api-test", "`php(time())` is PHP: `php` names no function (LANGUAGE.md §4)"),
    ("fujsen-api-users", "FUJSEN API script: its last line is a bare expression, not an entry (LANGUAGE.md §2)"),
    (
        "fujsen-examples-database-test",
        "@Query, @learn, @metrics, @optimize are plugin operators, @DEBUG a PHP-style variable",
    ),
    (
        "fujsen-examples-enhanced-demo",
        "@query, @learn, @metrics, @optimize, @feature are plugin operators (LANGUAGE.md §5)",
    ),
    (
        "fujsen-examples-test-integration",
        "`php(…)`, `peanuts(…)` are PHP, and @learn/@metrics/@optimize plugin operators",
    ),
    (
        "fujsen-examples-ultimate-freedom",
        "`@hash($.)` is not an expression (`$.` is documented nowhere in LANGUAGE.md)",
    ),
    ("malformed", "`malformed = ` has no value: input ended early (LANGUAGE.md §2 entries have a value)"),
    ("probes/probe-lexical", "probes SDK-only forms on purpose: `hello world`, `+5`, `.5` are not expressions"),
    ("probes/probe-operators", "probes plugin operators (@learn, @query, @graphql, …) and unknown ones on purpose"),
    ("probes/probe-scope", "probes forward references on purpose: `fwd: $later` is an error (LANGUAGE.md §4)"),
    ("sdk-csharp-examples-enhanced_demo", "@query, @learn, @metrics, @optimize are plugin operators (LANGUAGE.md §5)"),
    ("sdk-go-testdata-enhanced_sample", "@query, @learn, @metrics, @optimize are plugin operators (LANGUAGE.md §5)"),
    ("sdk-java-peanut", "@learn and @optimize are plugin operators (LANGUAGE.md §5)"),
    ("sdk-php-tests-test_enhanced", "@query, @metrics, @feature are plugin operators (LANGUAGE.md §5)"),
    ("sdk-python-tests-test_enhanced", "@query, @metrics, @feature are plugin operators (LANGUAGE.md §5)"),
    ("sdk-ruby-examples-enhanced_demo", "@query, @learn, @metrics, @optimize are plugin operators (LANGUAGE.md §5)"),
    ("sdk-rust-testdata-enhanced_sample", "@query, @learn, @metrics, @optimize are plugin operators (LANGUAGE.md §5)"),
    ("tests-graphql-demo", "@graphql is a plugin operator and `env(…)` a PHP-style call (LANGUAGE.md §5)"),
    ("tests-hello", "embeds PHP (`php(date(…))`, a `php(<<<'HTML' …)` heredoc) and ends in a bare `php(echo …)` line"),
    ("tests-pure-hello", "its last line is a bare `@output(html_output)` expression, not an entry (LANGUAGE.md §2)"),
    ("tests-simple", "`php(…)` and `date(…)` are PHP calls, not TuskLang functions (LANGUAGE.md §4-5)"),
    ("tests-simple-graphql-test", "@graphql is a plugin operator (LANGUAGE.md §5)"),
    ("tests-test-graphql-integration", "@graphql is a plugin operator (LANGUAGE.md §5)"),
];

/// Why the classic oracle is the one to compare with for the files of the classic dialect.
const CLASSIC_DIALECT: &str = "written in the classic dialect, whose `\"\"\"` bodies the primary oracle parses as keys \
     (REFERENCE-BEHAVIOUR.md §11, TRIPLE: use NAME.classic.ref.json)";

/// Files compared with another oracle than the primary `NAME.ref.json`, and why.
const OTHER_ORACLE: &[(&str, &str, &str)] = &[
    ("sdk-csharp-examples-demo-config", "classic.ref.json", CLASSIC_DIALECT),
    ("sdk-ruby-demo", "classic.ref.json", CLASSIC_DIALECT),
];

/// Files that do not load even in compat mode (documented in docs/conformance.md).
const NOT_LOADING_IN_COMPAT: &[(&str, &str)] = &[];

fn conformance_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/tusktsk");
    if dir.is_dir() {
        return Some(dir);
    }
    let reason = format!("the conformance files are not at {}", dir.display());
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{reason}, and CI=true requires them");
    eprintln!("skipping: {reason}");
    None
}

/// Every `.tsk` file of the folder and of `probes/`, as (name shown, path), sorted.
fn tsk_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for (prefix, folder) in [("", dir.to_path_buf()), ("probes/", dir.join("probes"))] {
        let Ok(entries) = fs::read_dir(&folder) else { continue };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|extension| extension == "tsk") {
                let stem = path.file_stem().expect("a file name").to_string_lossy().into_owned();
                files.push((format!("{prefix}{stem}"), path));
            }
        }
    }
    files.sort();
    files
}

/// Evaluates a file in an empty temporary directory; the document as JSON, or the rendered errors.
fn evaluate(path: &Path, mode: Mode) -> Result<Json, String> {
    let source = fs::read_to_string(path).expect("conformance files are readable");
    let workdir = tempfile::tempdir().expect("a temporary directory");
    let mut engine = Engine::new();
    engine.set_mode(mode);
    engine.on_print(|_| {});
    let name = path.file_name().expect("a file name").to_string_lossy().into_owned();
    match engine.eval_named(&name, &source, Some(workdir.path())) {
        Ok(document) => Ok(serde_json::from_str(
            &tusk::format::to_json(document.value(), true).expect("conformance documents hold finite floats"),
        )
        .expect("our JSON output is valid JSON")),
        Err(error) => Err(engine.render(&error, false)),
    }
}

/// The leaves of a document: objects are walked, everything else (arrays included) is a leaf.
fn leaves(value: &Json) -> Vec<(String, Json)> {
    fn walk(value: &Json, path: &str, out: &mut Vec<(String, Json)>) {
        match value {
            Json::Object(map) if !map.is_empty() || path.is_empty() => {
                for (key, child) in map {
                    let child_path = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    walk(child, &child_path, out);
                }
            }
            _ => out.push((path.to_string(), value.clone())),
        }
    }
    let mut out = Vec::new();
    walk(value, "", &mut out);
    out
}

/// Equal as documents: numbers compare by value, because the JavaScript oracle has one number
/// type (`10.0` reads back as `10`); everything else compares exactly.
fn same(ours: &Json, theirs: &Json) -> bool {
    match (ours, theirs) {
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (Json::Array(a), Json::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b)),
        (Json::Object(a), Json::Object(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => ours == theirs,
    }
}

/// One difference between our document and the oracle's.
#[derive(Debug)]
struct Difference {
    path: String,
    ours: Option<Json>,
    theirs: Option<Json>,
}

fn differences(ours: &Json, theirs: &Json) -> Vec<Difference> {
    let our_leaves = leaves(ours);
    let their_leaves = leaves(theirs);
    let mut out = Vec::new();
    for (path, value) in &our_leaves {
        match their_leaves.iter().find(|(their_path, _)| their_path == path) {
            Some((_, their_value)) if same(value, their_value) => {}
            Some((_, their_value)) => out.push(Difference {
                path: path.clone(),
                ours: Some(value.clone()),
                theirs: Some(their_value.clone()),
            }),
            None => out.push(Difference { path: path.clone(), ours: Some(value.clone()), theirs: None }),
        }
    }
    for (path, value) in &their_leaves {
        if !our_leaves.iter().any(|(our_path, _)| our_path == path) {
            out.push(Difference { path: path.clone(), ours: None, theirs: Some(value.clone()) });
        }
    }
    out
}

/// `a.b` matches that path only; `a.b.*` matches `a.b` and every path below it.
fn matches(pattern: &str, path: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(prefix) => path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
        None => pattern == path,
    }
}

fn show(value: &Option<Json>) -> String {
    value.as_ref().map_or_else(|| "(absent)".to_string(), |value| value.to_string())
}

#[test]
fn every_real_file_loads_in_compat_mode() {
    support::with_environment(
        "every_real_file_loads_in_compat_mode",
        &[("SOURCE_DATE_EPOCH", support::FROZEN_EPOCH)],
        || {
            let Some(dir) = conformance_dir() else { return };
            let files = tsk_files(&dir);
            assert!(files.len() >= 44, "expected the 44 real files and the probes, found {}", files.len());
            let mut failures = Vec::new();
            for (name, path) in &files {
                let excluded = NOT_LOADING_IN_COMPAT.iter().any(|(file, _)| file == name);
                match (evaluate(path, Mode::Compat), excluded) {
                    (Ok(_), false) | (Err(_), true) => {}
                    (Err(errors), false) => failures.push(format!("{name} does not load in compat mode:\n{errors}")),
                    (Ok(_), true) => failures.push(format!(
                        "{name} loads in compat mode now: remove it from NOT_LOADING_IN_COMPAT and docs/conformance.md"
                    )),
                }
            }
            assert!(failures.is_empty(), "{}", failures.join("\n"));
        },
    );
}

#[test]
fn default_mode_matches_the_oracles_except_the_allowed_differences() {
    support::with_environment(
        "default_mode_matches_the_oracles_except_the_allowed_differences",
        &[("SOURCE_DATE_EPOCH", support::FROZEN_EPOCH)],
        || {
            let Some(dir) = conformance_dir() else { return };
            let mut failures = Vec::new();
            // Every path of every entry must still match a difference, so the list stays exact.
            let mut used: Vec<Vec<bool>> = ALLOWED.iter().map(|allowed| vec![false; allowed.paths.len()]).collect();
            for (name, path) in tsk_files(&dir) {
                let oracle_extension = OTHER_ORACLE
                    .iter()
                    .find(|(file, _, _)| *file == name)
                    .map_or("ref.json", |(_, extension, _)| extension);
                let oracle_path = path.with_extension(oracle_extension);
                let oracle: Json =
                    serde_json::from_str(&fs::read_to_string(&oracle_path).expect("every file has an oracle"))
                        .expect("oracles are JSON");
                let in_compat = COMPARED_IN_COMPAT.iter().any(|(file, _)| *file == name);
                let ours = match (evaluate(&path, Mode::Default), in_compat) {
                    (Ok(document), false) => document,
                    (Err(errors), false) => {
                        failures.push(format!("{name} does not evaluate in the default mode:\n{errors}"));
                        continue;
                    }
                    (Ok(_), true) => {
                        failures.push(format!(
                            "{name} evaluates in the default mode now: remove it from COMPARED_IN_COMPAT"
                        ));
                        continue;
                    }
                    (Err(_), true) => match evaluate(&path, Mode::Compat) {
                        Ok(document) => document,
                        Err(errors) => {
                            failures.push(format!("{name} does not evaluate in compat mode:\n{errors}"));
                            continue;
                        }
                    },
                };
                for difference in differences(&ours, &oracle) {
                    let allowed = ALLOWED.iter().enumerate().find_map(|(entry, allowed)| {
                        let path = allowed.paths.iter().position(|pattern| matches(pattern, &difference.path))?;
                        (allowed.file == name).then_some((entry, path))
                    });
                    match allowed {
                        Some((entry, path)) => used[entry][path] = true,
                        None => failures.push(format!(
                            "{name}: {}: ours {} / oracle {}",
                            difference.path,
                            show(&difference.ours),
                            show(&difference.theirs)
                        )),
                    }
                }
            }
            for (allowed, used) in ALLOWED.iter().zip(used) {
                for (pattern, used) in allowed.paths.iter().zip(used) {
                    if !used {
                        failures.push(format!(
                            "allow-list entry {} `{pattern}` ({:?}: {}) matches no difference any more: remove it",
                            allowed.file, allowed.cause, allowed.note
                        ));
                    }
                }
            }
            assert!(failures.is_empty(), "{} unexpected differences:\n{}", failures.len(), failures.join("\n"));
        },
    );
}

#[test]
fn every_allowed_difference_cites_its_rule() {
    let mut by_cause: Vec<(Cause, usize, usize)> = Vec::new();
    for allowed in ALLOWED {
        let rule = allowed.cause.rule();
        assert!(
            (rule.contains("LANGUAGE.md") || rule.contains("docs/language.md"))
                && rule.contains("REFERENCE-BEHAVIOUR.md"),
            "the rule for {:?} must cite LANGUAGE.md (or docs/language.md) and REFERENCE-BEHAVIOUR.md: {rule}",
            allowed.cause
        );
        assert!(!allowed.paths.is_empty(), "an allow-list entry of {} lists no paths", allowed.file);
        match by_cause.iter_mut().find(|(cause, _, _)| *cause == allowed.cause) {
            Some((_, entries, paths)) => {
                *entries += 1;
                *paths += allowed.paths.len();
            }
            None => by_cause.push((allowed.cause, 1, allowed.paths.len())),
        }
    }
    let compared_in_compat: Vec<&str> = COMPARED_IN_COMPAT.iter().map(|(file, _)| *file).collect();
    for (file, why) in COMPARED_IN_COMPAT.iter().chain(NOT_LOADING_IN_COMPAT) {
        assert!(!why.is_empty(), "{file} needs a reason");
    }
    assert!(
        compared_in_compat.windows(2).all(|pair| pair[0] < pair[1]),
        "keep COMPARED_IN_COMPAT sorted and free of duplicates"
    );
    // The summary docs/conformance.md quotes (`cargo test -p tusk-tests --test conformance -- --nocapture`).
    by_cause.sort_by_key(|(_, _, paths)| std::cmp::Reverse(*paths));
    for (cause, entries, paths) in by_cause {
        println!("{cause:?}: {entries} entries, {paths} paths");
    }
}
