// Create the services' own MongoDB user on the first start of an empty data volume.
// Run by the mongo image's entrypoint (files in /docker-entrypoint-initdb.d), with the root user.
// The user may read and write the services' databases and nothing else.
const password = process.env.KITH_MONGO_PASSWORD;
if (!password) {
  throw new Error("KITH_MONGO_PASSWORD is not set");
}
db.getSiblingDB("admin").createUser({
  user: process.env.KITH_MONGO_USER || "kith",
  pwd: password,
  roles: ["kith_auth", "kith_ingest", "kith_scoring", "kith_recommend"].map((name) => ({ role: "readWrite", db: name })),
});
