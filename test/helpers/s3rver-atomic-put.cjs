'use strict';
// Preloaded into the s3rver child (`node -r`). s3rver 3.7 streams a PUT body straight into the
// object's file, so a client killed mid-upload leaves a visible, truncated object. Amazon S3 (and
// every service triad supports) never does: an object appears whole or not at all. Crash tests
// kill triad mid-upload and must see the service's semantics, not this emulator's: here a PUT is
// written to a temporary file (whose name s3rver never lists) and renamed into place only once
// the whole body, as announced by Content-Length, has arrived. Its metadata and MD5 files are
// written the same way and before the object is renamed into place: s3rver writes them in place
// after the object, so a stop in between left an object whose half-written metadata made every
// later listing of the bucket fail with HTTP 500, which no real service does either.
const crypto = require('node:crypto');
const path = require('node:path');
const { Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const fs = require('fs-extra');
const Store = require('s3rver/lib/stores/filesystem');

Store.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.mkdirp(path.dirname(objectPath));
  const md5 = crypto.createHash('md5');
  let size = 0;
  let digest;
  const tmp = `${objectPath}.${crypto.randomBytes(6).toString('hex')}.incomplete`;
  try {
    if (Buffer.isBuffer(object.content)) {
      md5.update(object.content);
      size = object.content.length;
      await fs.writeFile(tmp, object.content);
    } else {
      const count = new Transform({
        transform(chunk, encoding, callback) {
          md5.update(chunk, encoding);
          size += chunk.length;
          callback(null, chunk);
        },
      });
      await pipeline(object.content, count, fs.createWriteStream(tmp));
      const announced = object.content.headers && object.content.headers['content-length'];
      if (announced !== undefined && Number(announced) !== size) {
        throw new Error(`request body cut short: ${size} of ${announced} bytes arrived`);
      }
    }
    digest = md5.digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    await fs.rename(tmp, objectPath);
  } catch (err) {
    await fs.remove(tmp);
    throw err;
  }
  return { size, md5: digest };
};

/** A file appears whole or not at all: written beside its name, then renamed into place. */
async function writeWhole(file, data) {
  const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.incomplete`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.remove(tmp);
    throw err;
  }
}

const S3Object = require('s3rver/lib/models/object');

Store.prototype.putMetadata = async function putMetadata(bucket, key, metadata, md5) {
  // What s3rver's own putMetadata keeps: the allowed headers and the user's x-amz-meta-*.
  const json = Object.fromEntries(Object.entries(metadata).filter(([name]) => S3Object.ALLOWED_METADATA.includes(name) || name.startsWith('x-amz-meta-')));
  if (md5) await writeWhole(this.getResourcePath(bucket, key, 'object.md5'), md5);
  await writeWhole(this.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify(json, null, 2));
};
