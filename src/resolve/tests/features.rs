//! Features, optional dependencies and `links`, as Cargo's resolver treats
//! them, one case each.

use super::memory::{MemoryIndex, dep, entry};
use super::{chosen, no_solution, resolve_ok};
use crate::format::Dependency;
use crate::format::features::FeatureAsk;
use crate::resolve::{Request, Resolution};

fn optional(name: &str, req: &str) -> Dependency {
    Dependency {
        optional: true,
        ..dep(name, req)
    }
}

fn with_features(mut dependency: Dependency, features: &[&str], default_features: bool) -> Dependency {
    dependency.features = features.iter().map(|f| f.to_string()).collect();
    dependency.default_features = default_features;
    dependency
}

/// Publishes `name vers` with these dependencies and features.
fn publish(index: &mut MemoryIndex, name: &str, vers: &str, deps: Vec<Dependency>, features: &[(&str, &[&str])]) {
    let mut line = entry(name, vers, deps);
    line.features = features
        .iter()
        .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
        .collect();
    index.add(line);
}

/// Where the dependencies of the chosen package `id` lead.
fn edges_of(resolution: &Resolution, id: &str) -> Vec<String> {
    let package = resolution.packages.iter().find(|p| p.id.to_string() == id).unwrap();
    package.dependencies.iter().map(|e| e.to.to_string()).collect()
}

fn features_of(resolution: &Resolution, id: &str) -> Vec<String> {
    let package = resolution.packages.iter().find(|p| p.id.to_string() == id);
    package.unwrap_or_else(|| panic!("{id} not chosen")).features.clone()
}

#[test]
fn optional_dependencies_follow_default_features_unless_turned_off() {
    let mut index = MemoryIndex::new();
    publish(
        &mut index,
        "app",
        "1.0.0",
        vec![optional("log", "^1")],
        &[("default", &["log"])],
    );
    index.publish("log", "1.2.0", vec![]);

    let resolution = resolve_ok(&index, &Request::new([("app", "^1")]));
    assert_eq!(chosen(&resolution), ["app 1.0.0", "log 1.2.0"]);
    assert_eq!(features_of(&resolution, "app 1.0.0"), ["default", "log"]);
    assert_eq!(resolution.packages[0].dependencies[0].to.to_string(), "log 1.2.0");

    let bare = Request::new([("app", "^1")]).features("app", FeatureAsk::none());
    let resolution = resolve_ok(&index, &bare);
    assert_eq!(chosen(&resolution), ["app 1.0.0"]);
    assert!(resolution.packages[0].dependencies.is_empty());
    let log_reads = index.reads().iter().filter(|name| *name == "log").count();
    assert_eq!(
        log_reads,
        1,
        "only the first resolution reads `log`: {:?}",
        index.reads()
    );
}

#[test]
fn every_dependent_shares_one_version_with_the_union_of_their_features() {
    let mut index = MemoryIndex::new();
    publish(&mut index, "core", "1.0.0", vec![], &[("a", &[]), ("b", &[])]);
    publish(&mut index, "core", "1.1.0", vec![], &[("a", &[]), ("b", &[])]);
    index.publish("left", "1.0.0", vec![with_features(dep("core", "^1"), &["a"], true)]);
    index.publish(
        "right",
        "1.0.0",
        vec![with_features(dep("core", "^1.0"), &["b"], false)],
    );
    let resolution = resolve_ok(&index, &Request::new([("left", "*"), ("right", "*")]));
    assert_eq!(chosen(&resolution), ["core 1.1.0", "left 1.0.0", "right 1.0.0"]);
    assert_eq!(features_of(&resolution, "core 1.1.0"), ["a", "b"]);
}

#[test]
fn a_version_without_an_asked_feature_is_passed_over() {
    let mut index = MemoryIndex::new();
    publish(&mut index, "tls", "1.0.0", vec![], &[("rustls", &[])]);
    publish(&mut index, "tls", "1.1.0", vec![], &[]);
    index.publish(
        "client",
        "1.0.0",
        vec![with_features(dep("tls", "^1"), &["rustls"], true)],
    );
    let resolution = resolve_ok(&index, &Request::new([("client", "^1")]));
    assert_eq!(chosen(&resolution), ["client 1.0.0", "tls 1.0.0"]);

    let only_new = {
        let mut index = MemoryIndex::new();
        publish(&mut index, "tls", "1.1.0", vec![], &[]);
        index
    };
    let why = no_solution(
        &only_new,
        &Request::new([("tls", "^1")]).features("tls", FeatureAsk::none().with("rustls")),
    );
    assert!(
        why.contains("`tls 1.1.0` with feature `rustls` cannot be used: it has no feature `rustls`"),
        "{why}"
    );
}

#[test]
fn dependency_features_turn_their_dependency_on_and_reach_into_it() {
    let mut index = MemoryIndex::new();
    publish(
        &mut index,
        "web",
        "1.0.0",
        vec![optional("serde", "^1"), optional("json", "^1"), optional("yaml", "^1")],
        &[("default", &["serde/derive", "dep:json", "yaml?/fast"])],
    );
    publish(
        &mut index,
        "serde",
        "1.0.0",
        vec![optional("derive-impl", "^1")],
        &[("derive", &["derive-impl"])],
    );
    index.publish("derive-impl", "1.0.0", vec![]);
    index.publish("json", "1.0.0", vec![]);
    publish(&mut index, "yaml", "1.0.0", vec![], &[("fast", &[])]);
    let resolution = resolve_ok(&index, &Request::new([("web", "^1")]));
    // A weak `yaml?/fast` turns `yaml` on too, as in Cargo's resolver.
    assert_eq!(
        chosen(&resolution),
        [
            "derive-impl 1.0.0",
            "json 1.0.0",
            "serde 1.0.0",
            "web 1.0.0",
            "yaml 1.0.0"
        ]
    );
    assert_eq!(features_of(&resolution, "serde 1.0.0"), ["derive", "derive-impl"]);
    assert_eq!(features_of(&resolution, "yaml 1.0.0"), ["fast"]);
    // `dep:json` hides the implicit `json` feature.
    assert_eq!(features_of(&resolution, "web 1.0.0"), ["default", "serde"]);
}

#[test]
fn a_requirement_across_buckets_carries_its_features_to_the_bucket_it_picks() {
    let mut index = MemoryIndex::new();
    publish(&mut index, "x", "2.0.0", vec![], &[]);
    publish(
        &mut index,
        "x",
        "1.5.0",
        vec![optional("extra", "^1")],
        &[("more", &["extra"])],
    );
    index.publish("extra", "1.0.0", vec![]);
    index.publish(
        "user",
        "1.0.0",
        vec![with_features(dep("x", ">=1, <3"), &["more"], true)],
    );
    let resolution = resolve_ok(&index, &Request::new([("user", "^1")]));
    assert_eq!(chosen(&resolution), ["extra 1.0.0", "user 1.0.0", "x 1.5.0"]);
    assert_eq!(resolution.packages[1].dependencies[0].to.to_string(), "x 1.5.0");
}

#[test]
fn two_packages_linking_one_library_never_meet() {
    let mut index = MemoryIndex::new();
    let mut links = |name: &str, vers: &str, library: Option<&str>| {
        let mut line = entry(name, vers, vec![]);
        line.links = library.map(str::to_owned);
        index.add(line);
    };
    links("ssl-sys", "0.9.0", Some("ssl"));
    links("ssl-sys", "0.10.0", Some("ssl"));
    links("boring-sys", "1.0.0", Some("ssl"));
    links("boring-sys", "0.9.0", None);
    // Two buckets of one package count as two packages.
    index.publish("old", "1.0.0", vec![dep("ssl-sys", "^0.9")]);
    let why = no_solution(&index, &Request::new([("ssl-sys", "^0.10"), ("old", "^1")]));
    assert!(why.contains("`ssl-sys 0.9.0` links the native library `ssl`"), "{why}");
    assert!(why.contains("`ssl-sys 0.10.0` links the native library `ssl`"), "{why}");
    assert!(why.contains("cannot be used together"), "{why}");

    let both = Request::new([("ssl-sys", "^0.10"), ("boring-sys", "^1")]);
    let why = no_solution(&index, &both);
    assert!(why.contains("both link the native library `ssl`"), "{why}");

    // An older version without `links` resolves the clash.
    let older = Request::new([("ssl-sys", "^0.10"), ("boring-sys", "*")]);
    let resolution = resolve_ok(&index, &older);
    assert_eq!(chosen(&resolution), ["boring-sys 0.9.0", "ssl-sys 0.10.0"]);
}

#[test]
fn features_a_version_asks_of_itself_are_turned_on_or_rule_it_out() {
    // Found by the oracle: `d`'s default feature asks `f` of `d` itself,
    // through its dependency on its own series.
    let mut index = MemoryIndex::new();
    publish(
        &mut index,
        "d",
        "1.0.0",
        vec![with_features(dep("d", "1.*"), &[], false)],
        &[("default", &["d/f"])],
    );
    let why = no_solution(&index, &Request::new([("d", "^1")]));
    assert!(why.contains("it has no feature `f`"), "{why}");

    publish(
        &mut index,
        "d",
        "1.1.0",
        vec![with_features(dep("d", "^1"), &["g"], false)],
        &[("default", &["d/f"]), ("f", &[]), ("g", &[])],
    );
    let resolution = resolve_ok(&index, &Request::new([("d", "^1")]));
    assert_eq!(features_of(&resolution, "d 1.1.0"), ["default", "f", "g"]);
    assert_eq!(resolution.packages[0].dependencies[0].to.to_string(), "d 1.1.0");
}

#[test]
fn a_feature_no_version_has_is_explained_once_not_per_version() {
    let mut index = MemoryIndex::new();
    for vers in ["1.0.0", "1.0.1", "1.1.0", "1.2.0", "1.2.1", "1.3.0"] {
        publish(&mut index, "tls", vers, vec![], &[("native", &[])]);
    }
    let request = Request::new([("tls", "^1")]).features("tls", FeatureAsk::default_features().with("rustls"));
    let why = no_solution(&index, &request);
    assert_eq!(
        why,
        "Because `tls ^1` with feature `rustls` cannot be used: it has no feature `rustls` and the project \
         depends on `tls ^1` with feature `rustls`, the project's requirements cannot be met."
    );
}

/// `app` 1.0.0 depending on `core = "*"`, whose feature `a` asks `core/x`
/// and `b` asks `core/y`, added to `index`; and a request for `app` with
/// both features.
fn app_asking_x_and_y_of_core(mut index: MemoryIndex) -> (MemoryIndex, Request) {
    publish(
        &mut index,
        "app",
        "1.0.0",
        vec![dep("core", "*")],
        &[("a", &["core/x"]), ("b", &["core/y"])],
    );
    let ask = FeatureAsk::none().with("a").with("b");
    (index, Request::new([("app", "^1")]).features("app", ask))
}

#[test]
fn two_features_asking_of_one_multi_bucket_dependency_keep_its_edge() {
    let mut index = MemoryIndex::new();
    publish(&mut index, "core", "0.9.0", vec![], &[("x", &[]), ("y", &[])]);
    publish(&mut index, "core", "1.0.0", vec![], &[("x", &[]), ("y", &[])]);
    let (index, request) = app_asking_x_and_y_of_core(index);
    let resolution = resolve_ok(&index, &request);
    assert_eq!(chosen(&resolution), ["app 1.0.0", "core 1.0.0"]);
    assert_eq!(features_of(&resolution, "core 1.0.0"), ["x", "y"]);
    assert_eq!(edges_of(&resolution, "app 1.0.0"), ["core 1.0.0"]);
}

#[test]
fn features_of_one_dependency_are_asked_of_one_version() {
    // `core = "*"` asked `x` by feature `a` and `y` by feature `b`: Cargo
    // asks both of the one version the dependency resolves to, and no
    // version has both.
    let mut index = MemoryIndex::new();
    publish(&mut index, "core", "0.9.0", vec![], &[("y", &[])]);
    publish(&mut index, "core", "1.0.0", vec![], &[("x", &[])]);
    let (index, request) = app_asking_x_and_y_of_core(index);
    let why = no_solution(&index, &request);
    for part in [
        "`core 0.9.0` with feature `x` cannot be used: it has no feature `x`",
        "`core 1.0.0` with feature `y` cannot be used: it has no feature `y`",
        "`core *` within 1.x with feature `x` is the one version `app` depends on as `core *` within 1.x",
        "`app 1.0.0` with feature `b` and `app 1.0.0` with feature `a` cannot be used together",
    ] {
        assert!(why.contains(part), "{part:?} in:\n{why}");
    }
}

#[test]
fn two_dependents_may_settle_one_multi_bucket_requirement_apart() {
    // Cargo resolves each dependency on its own: `left` needs `x` (only in
    // 1.0.0) and `right` needs `y` (only in 0.9.0) of `core = "*"`.
    let mut index = MemoryIndex::new();
    publish(&mut index, "core", "0.9.0", vec![], &[("y", &[])]);
    publish(&mut index, "core", "1.0.0", vec![], &[("x", &[])]);
    let wanting = |feature: &str| with_features(dep("core", "*"), &[feature], true);
    publish(&mut index, "left", "1.0.0", vec![wanting("x")], &[]);
    publish(&mut index, "right", "1.0.0", vec![wanting("y")], &[]);
    let resolution = resolve_ok(&index, &Request::new([("left", "^1"), ("right", "^1")]));
    assert_eq!(
        chosen(&resolution),
        ["core 0.9.0", "core 1.0.0", "left 1.0.0", "right 1.0.0"]
    );
    assert_eq!(edges_of(&resolution, "left 1.0.0"), ["core 1.0.0"]);
    assert_eq!(edges_of(&resolution, "right 1.0.0"), ["core 0.9.0"]);
}

#[test]
fn a_spanning_dependency_on_its_own_package_is_one_version_with_its_features() {
    // Found by the features oracle: `d` 1.0.0 depends on `d >=1` (1.x or
    // 2.0.0) and its default feature asks `f` of it. Only 1.0.0 has `f`, so
    // the one version that dependency resolves to is 1.0.0 itself; 2.0.0
    // is not needed.
    let mut index = MemoryIndex::new();
    publish(&mut index, "d", "0.1.0", vec![], &[("default", &[])]);
    publish(
        &mut index,
        "d",
        "1.0.0",
        vec![with_features(dep("d", ">=1"), &[], false)],
        &[("default", &["d/f"]), ("f", &[])],
    );
    publish(&mut index, "d", "2.0.0", vec![], &[("g", &[])]);
    let resolution = resolve_ok(&index, &Request::new([("d", "^1")]));
    assert_eq!(chosen(&resolution), ["d 1.0.0"]);
    assert_eq!(features_of(&resolution, "d 1.0.0"), ["default", "f"]);
    assert_eq!(edges_of(&resolution, "d 1.0.0"), ["d 1.0.0"]);
}
