package io.polyvisor.driver.libvirt;

import com.sun.jna.Pointer;
import io.polyvisor.driver.Host;
import io.polyvisor.driver.HypervisorException;
import io.polyvisor.driver.MigrationProgress;
import io.polyvisor.driver.StoragePoolSpec;
import io.polyvisor.driver.Volume;
import io.polyvisor.driver.VolumeSpec;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.UnresolvedAddressException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;
import org.libvirt.StoragePool;
import org.libvirt.StorageVol;
import org.libvirt.StorageVolInfo;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Storage pools and volumes on one libvirt connection. Pools are created from a StorageClass's
 * parameters when a host lacks them; volumes are created empty, cloned from a file on the host, or
 * filled by streaming an http(s) image through libvirt's upload stream.
 */
final class LibvirtStorage {

  private static final Logger log = LoggerFactory.getLogger(LibvirtStorage.class);
  private static final int CHUNK = 256 * 1024;
  private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).build();

  /** The pool, defined, built and started when the host does not have it yet. */
  StoragePool ensurePool(LibvirtConnection connection, StoragePoolSpec spec) throws LibvirtException {
    synchronized (connection.poolCreation) {
      StoragePool pool;
      try {
        pool = connection.storagePoolLookupByName(spec.name());
      } catch (LibvirtException e) {
        if (LibvirtErrors.code(e) != ErrorNumber.VIR_ERR_NO_STORAGE_POOL) {
          throw e;
        }
        pool = connection.storagePoolDefineXML(poolXml(spec), 0);
        pool.build(0);
        pool.setAutostart(1);
      }
      if (pool.isActive() == 0) {
        pool.create(0);
      }
      return pool;
    }
  }

  /**
   * Gives the target host every pool that holds one of the domain's disks on the source, so that
   * a migration copying the disks finds a pool of the same name to put them in (libvirt creates
   * the volumes there itself).
   */
  void replicatePools(LibvirtConnection source, LibvirtConnection target, String domainXml) throws LibvirtException {
    for (String file : diskFiles(domainXml)) {
      StoragePool pool;
      try {
        pool = source.storageVolLookupByPath(file).storagePoolLookupByVolume();
      } catch (LibvirtException e) {
        continue; // not in a pool: libvirt copies it to the same path
      }
      synchronized (target.poolCreation) {
        try {
          target.storagePoolLookupByName(pool.getName());
        } catch (LibvirtException missing) {
          if (LibvirtErrors.code(missing) != ErrorNumber.VIR_ERR_NO_STORAGE_POOL) {
            throw missing;
          }
          Document definition = Xml.parse(pool.getXMLDesc(0));
          var uuids = definition.getElementsByTagName("uuid");
          for (int u = uuids.getLength() - 1; u >= 0; u--) {
            uuids.item(u).getParentNode().removeChild(uuids.item(u));
          }
          StoragePool copy = target.storagePoolDefineXML(Xml.serialize(definition), 0);
          copy.build(0);
          copy.setAutostart(1);
          copy.create(0);
        }
      }
    }
  }

  /**
   * Rereads the pool's folder, for files put there by other means than this daemon. A pool in
   * which a volume is being built (a clone, an incoming migration's disk) refuses to be refreshed
   * until it is done; its list is then the daemon's own, which holds every volume it made, so the
   * lookup goes on from it rather than failing the guest's reconcile.
   */
  private static boolean refresh(StoragePool pool) throws LibvirtException {
    try {
      pool.refresh(0);
      return false;
    } catch (LibvirtException e) {
      if (!LibvirtErrors.isPoolBusy(e)) {
        throw e;
      }
      log.debug("pool {} is building a volume; looking in its list as it stands", pool.getName());
      return true;
    }
  }

  /**
   * The volume, if the pool has it. In a pool that is building a volume, the one found may be that
   * very volume (a clone started by an operator that has since stopped, or by another process):
   * libvirt lists it at once, though its bytes are not all there yet, so it is refused until done.
   */
  Optional<Volume> find(LibvirtConnection connection, StoragePoolSpec spec, String name) throws LibvirtException {
    StoragePool pool = ensurePool(connection, spec);
    boolean busy = refresh(pool);
    try {
      StorageVol volume = pool.storageVolLookupByName(name);
      if (busy && stillBeingBuilt(connection, volume.getPath())) {
        throw new HypervisorException("VOLUME_BUILDING", "volume " + name + " in pool " + spec.name()
            + " is still being built by the host; it is used once the host has finished it");
      }
      return Optional.of(describe(spec, volume));
    } catch (LibvirtException e) {
      if (LibvirtErrors.code(e) == ErrorNumber.VIR_ERR_NO_STORAGE_VOL) {
        return Optional.empty();
      }
      throw e;
    }
  }

  Volume create(Host host, LibvirtConnection connection, VolumeSpec spec) throws LibvirtException {
    Optional<Volume> existing = find(connection, spec.pool(), spec.name());
    if (existing.isPresent()) {
      return existing.get();
    }
    StoragePool pool = ensurePool(connection, spec.pool());
    if (spec.source().isEmpty()) {
      return describe(spec.pool(), pool.storageVolCreateXML(volumeXml(spec.name(), spec.capacityBytes(), spec.pool().format()), 0));
    }
    URI source = spec.source().get();
    if ("file".equals(source.getScheme())) {
      StorageVol image;
      try {
        image = imageOnHost(connection, Path.of(source.getPath()));
      } catch (LibvirtException e) {
        throw new HypervisorException("SOURCE_UNREADABLE", "disk source " + source + " for pool " + spec.pool().name()
            + " cannot be read on " + host.nodeName() + ": " + why(e), e);
      }
      StorageVol clone =
          pool.storageVolCreateXMLFrom(volumeXml(spec.name(), spec.capacityBytes(), spec.pool().format()), image, 0);
      growTo(clone, spec.capacityBytes());
      return describe(spec.pool(), clone);
    }
    return upload(host, connection, pool, spec, source);
  }

  void delete(LibvirtConnection connection, StoragePoolSpec poolSpec, String name) throws LibvirtException {
    StoragePool pool;
    try {
      pool = connection.storagePoolLookupByName(poolSpec.name());
      refresh(pool);
      pool.storageVolLookupByName(name).delete(0);
    } catch (LibvirtException e) {
      ErrorNumber code = LibvirtErrors.code(e);
      if (code != ErrorNumber.VIR_ERR_NO_STORAGE_VOL && code != ErrorNumber.VIR_ERR_NO_STORAGE_POOL) {
        throw e;
      }
    }
  }

  /**
   * A file on the host as a libvirt volume: libvirt clones only volumes, so a file outside every
   * pool is reached through a transient directory pool over its folder.
   */
  private StorageVol imageOnHost(LibvirtConnection connection, Path file) throws LibvirtException {
    try {
      return connection.storageVolLookupByPath(file.toString());
    } catch (LibvirtException e) {
      if (LibvirtErrors.code(e) != ErrorNumber.VIR_ERR_NO_STORAGE_VOL) {
        throw e;
      }
    }
    Path folder = file.getParent();
    String name = "polyvisor-images-" + HexFormat.of().toHexDigits(folder.toString().hashCode());
    StoragePool images;
    try {
      images = connection.storagePoolLookupByName(name);
      refresh(images);
    } catch (LibvirtException e) {
      images = connection.storagePoolCreateXML(poolXml(new StoragePoolSpec(name, "dir", folder.toString(),
          Optional.empty(), Optional.empty(), "raw", false)), 0);
    }
    return images.storageVolLookupByName(file.getFileName().toString());
  }

  /**
   * Streams an http(s) image into a new volume. The volume takes the image's own format (from the
   * file name: .qcow2 or raw), since upload writes bytes as they come; it is grown to the spec's
   * capacity afterwards.
   */
  private Volume upload(Host host, LibvirtConnection connection, StoragePool pool, VolumeSpec spec, URI source)
      throws LibvirtException {
    String forPool = " for pool " + spec.pool().name() + " on " + host.nodeName();
    HttpResponse<InputStream> response;
    try {
      response = http.send(HttpRequest.newBuilder(source).GET().build(), HttpResponse.BodyHandlers.ofInputStream());
    } catch (IOException e) {
      throw new HypervisorException("SOURCE_UNREADABLE", "cannot read disk source " + source + forPool + ": " + why(e), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new HypervisorException("INTERRUPTED", "interrupted while reading " + source + forPool, e);
    }
    if (response.statusCode() != 200) {
      throw new HypervisorException(
          "SOURCE_UNREADABLE", "disk source " + source + forPool + " answered HTTP " + response.statusCode());
    }
    long length = response.headers().firstValueAsLong("content-length").orElse(-1);
    if (length <= 0) {
      throw new HypervisorException(
          "SOURCE_UNREADABLE", "disk source " + source + forPool + " does not say its length (Content-Length)");
    }
    String format = source.getPath().endsWith(".qcow2") ? "qcow2" : "raw";
    StorageVol volume = pool.storageVolCreateXML(volumeXml(spec.name(), length, format), 0);
    try (InputStream body = response.body()) {
      stream(connection, volume, body, length);
    } catch (IOException | RuntimeException e) {
      volume.delete(0);
      throw new HypervisorException(
          "UPLOAD_FAILED", "uploading " + source + " into volume " + spec.name() + forPool + " failed: " + why(e), e);
    }
    growTo(volume, spec.capacityBytes());
    return describe(spec.pool(), volume);
  }

  /**
   * Whether the daemon is still building the volume: it refuses to read one whose allocation has
   * not finished ("is still being allocated"), which nothing else it reports tells.
   */
  private static boolean stillBeingBuilt(LibvirtConnection connection, String path) {
    LibvirtNative lib = LibvirtNative.INSTANCE;
    Pointer vol = lib.virStorageVolLookupByPath(connection.pointer(), path);
    if (vol == null) {
      return false; // gone since it was listed: the caller's use of it fails on its own
    }
    Pointer stream = lib.virStreamNew(connection.pointer(), 0);
    try {
      if (lib.virStorageVolDownload(vol, stream, 0, 1, 0) == 0) {
        lib.virStreamAbort(stream);
        return false;
      }
      String message = LibvirtErrors.lastMessage();
      if (message != null && message.contains("still being allocated")) {
        return true;
      }
      // Only that answer proves the volume unfinished. Any other (the volume deleted since it was
      // listed, a stream refused on a loaded daemon) proves nothing, and is not a reason to fail
      // the reconcile of the guest that uses it: its own use of the volume fails if it must.
      log.debug("cannot probe volume {}: {}; taking it as found", path, message);
      return false;
    } finally {
      lib.virStreamFree(stream);
      lib.virStorageVolFree(vol);
    }
  }

  private static void stream(LibvirtConnection connection, StorageVol volume, InputStream body, long length)
      throws IOException, LibvirtException {
    LibvirtNative lib = LibvirtNative.INSTANCE;
    Pointer vol = lib.virStorageVolLookupByPath(connection.pointer(), volume.getPath());
    Pointer stream = lib.virStreamNew(connection.pointer(), 0);
    try {
      check(lib.virStorageVolUpload(vol, stream, 0, length, 0), "virStorageVolUpload");
      byte[] buffer = new byte[CHUNK];
      int read;
      while ((read = body.read(buffer)) > 0) {
        sendAll(stream, buffer, read);
      }
      check(lib.virStreamFinish(stream), "virStreamFinish");
    } finally {
      lib.virStreamFree(stream);
      lib.virStorageVolFree(vol);
    }
  }

  /**
   * Copies every pooled disk of a shut-off domain into a pool of the same name on the target (the
   * same path there, so the definition needs no change), replacing any earlier partial copy. The
   * bytes go through this process: libvirt's download stream from the source, its upload stream to
   * the target.
   */
  void copyDisks(Host from, LibvirtConnection source, Host to, LibvirtConnection target, String domainXml,
      Consumer<MigrationProgress> progress) throws LibvirtException {
    replicatePools(source, target, domainXml);
    List<StorageVol> disks = new ArrayList<>();
    for (String file : diskFiles(domainXml)) {
      try {
        disks.add(source.storageVolLookupByPath(file));
      } catch (LibvirtException e) {
        throw new HypervisorException("NOT_IN_POOL", "disk " + file + " is in no storage pool on " + from.nodeName()
            + ", so it cannot be copied to " + to.nodeName(), e);
      }
    }
    long total = 0;
    for (StorageVol disk : disks) {
      total += disk.getInfo().allocation;
    }
    Instant started = Instant.now();
    long copied = 0;
    for (StorageVol disk : disks) {
      StoragePool pool = target.storagePoolLookupByName(disk.storagePoolLookupByVolume().getName());
      refresh(pool);
      try {
        pool.storageVolLookupByName(disk.getName()).delete(0);
      } catch (LibvirtException e) {
        if (LibvirtErrors.code(e) != ErrorNumber.VIR_ERR_NO_STORAGE_VOL) {
          throw e;
        }
      }
      StorageVol copy = pool.storageVolCreateXML(
          volumeXml(disk.getName(), disk.getInfo().capacity, format(disk.getXMLDesc(0), "raw")), 0);
      long before = copied;
      long grandTotal = total;
      copied += pipe(from, source, disk, to, target, copy, bytes -> progress.accept(new MigrationProgress(
          before + bytes, grandTotal, Math.max(0, grandTotal - before - bytes), Duration.between(started, Instant.now()))));
    }
  }

  /** Streams one volume's bytes into another on another host; returns how many. */
  private static long pipe(Host fromHost, LibvirtConnection from, StorageVol source, Host toHost, LibvirtConnection to,
      StorageVol target, LongConsumer progress) throws LibvirtException {
    LibvirtNative lib = LibvirtNative.INSTANCE;
    Pointer in = lib.virStreamNew(from.pointer(), 0);
    Pointer out = lib.virStreamNew(to.pointer(), 0);
    Pointer sourceVol = lib.virStorageVolLookupByPath(from.pointer(), source.getPath());
    Pointer targetVol = lib.virStorageVolLookupByPath(to.pointer(), target.getPath());
    try {
      // Length 0: the whole volume as stored (a qcow2 file, not its virtual size).
      check(lib.virStorageVolDownload(sourceVol, in, 0, 0, 0), "virStorageVolDownload");
      check(lib.virStorageVolUpload(targetVol, out, 0, 0, 0), "virStorageVolUpload");
      byte[] buffer = new byte[CHUNK];
      long total = 0;
      int read;
      while ((read = lib.virStreamRecv(in, buffer, buffer.length)) > 0) {
        sendAll(out, buffer, read);
        total += read;
        progress.accept(total);
      }
      if (read < 0) {
        throw new IOException("virStreamRecv failed: " + LibvirtErrors.lastMessage());
      }
      check(lib.virStreamFinish(in), "virStreamFinish (download)");
      check(lib.virStreamFinish(out), "virStreamFinish (upload)");
      return total;
    } catch (IOException e) {
      lib.virStreamAbort(in);
      lib.virStreamAbort(out);
      throw new HypervisorException("COPY_FAILED", "copying volume " + source.getName() + " from " + fromHost.nodeName()
          + " to " + toHost.nodeName() + " failed: " + why(e), e);
    } finally {
      lib.virStreamFree(in);
      lib.virStreamFree(out);
      lib.virStorageVolFree(sourceVol);
      lib.virStorageVolFree(targetVol);
    }
  }

  /** Sends all of {@code length} bytes: a blocking stream may take fewer than offered. */
  private static void sendAll(Pointer stream, byte[] buffer, int length) throws IOException {
    LibvirtNative lib = LibvirtNative.INSTANCE;
    for (int offset = 0; offset < length; ) {
      byte[] rest = offset == 0 ? buffer : Arrays.copyOfRange(buffer, offset, length);
      int sent = lib.virStreamSend(stream, rest, length - offset);
      if (sent < 0) {
        lib.virStreamAbort(stream);
        throw new IOException("virStreamSend failed: " + LibvirtErrors.lastMessage());
      }
      offset += sent;
    }
  }

  /** The files behind a domain's disks ({@code <source file=...>}). */
  private static List<String> diskFiles(String domainXml) {
    List<String> files = new ArrayList<>();
    var sources = Xml.parse(domainXml).getDocumentElement().getElementsByTagName("source");
    for (int i = 0; i < sources.getLength(); i++) {
      String file = ((Element) sources.item(i)).getAttribute("file");
      if (!file.isEmpty() && "disk".equals(((Element) sources.item(i).getParentNode()).getTagName())) {
        files.add(file);
      }
    }
    return files;
  }

  /** What the JDK's exceptions that carry no message mean, when nothing under them says more. */
  private static final Map<Class<? extends Throwable>, String> WORDLESS = Map.of(
      ConnectException.class, "connection refused",
      UnresolvedAddressException.class, "host name not resolved",
      SocketTimeoutException.class, "timed out",
      EOFException.class, "the stream ended early");

  /**
   * A failure in words, never "null": each cause that says something, outermost first, as its
   * message and class ({@code connection refused (ConnectException)}). A cause without a message
   * counts only where no cause under it says more; one that just repeats its cause is left out.
   */
  static String why(Throwable failure) {
    List<Throwable> chain = new ArrayList<>();
    for (Throwable t = failure; t != null && !chain.contains(t) && chain.size() < 10; t = t.getCause()) {
      chain.add(t);
    }
    List<String> parts = new ArrayList<>();
    for (int i = 0; i < chain.size(); i++) {
      Throwable t = chain.get(i);
      String message = t.getMessage();
      String said;
      if (message != null && !message.isBlank()) {
        boolean repeatsCause = t.getCause() != null && message.equals(t.getCause().toString());
        said = repeatsCause ? null : message;
      } else {
        boolean deeperSays = chain.subList(i + 1, chain.size()).stream().anyMatch(LibvirtStorage::saysSomething);
        said = deeperSays ? null : wordless(t);
      }
      if (said != null) {
        String part = said + " (" + t.getClass().getSimpleName() + ")";
        if (parts.isEmpty() || !parts.get(parts.size() - 1).equals(part)) {
          parts.add(part);
        }
      }
    }
    return parts.isEmpty() ? failure.getClass().getSimpleName() : String.join(": ", parts);
  }

  private static boolean saysSomething(Throwable t) {
    return (t.getMessage() != null && !t.getMessage().isBlank()) || wordless(t) != null;
  }

  private static String wordless(Throwable t) {
    return WORDLESS.entrySet().stream().filter(e -> e.getKey().isInstance(t)).map(Map.Entry::getValue).findFirst().orElse(null);
  }

  private static void check(int result, String call) throws IOException {
    if (result < 0) {
      throw new IOException(call + " failed");
    }
  }

  private static void growTo(StorageVol volume, long capacity) throws LibvirtException {
    if (volume.getInfo().capacity < capacity) {
      volume.resize(capacity, 0);
    }
  }

  private static Volume describe(StoragePoolSpec pool, StorageVol volume) throws LibvirtException {
    StorageVolInfo info = volume.getInfo();
    return new Volume(pool.name(), volume.getName(), volume.getPath(), format(volume.getXMLDesc(0), pool.format()), info.capacity);
  }

  /** The volume's own format ({@code <target><format type=...>}), which an upload may have set. */
  private static String format(String volumeXml, String fallback) {
    var targets = Xml.parse(volumeXml).getDocumentElement().getElementsByTagName("target");
    if (targets.getLength() > 0) {
      var formats = ((Element) targets.item(0)).getElementsByTagName("format");
      if (formats.getLength() > 0) {
        String type = ((Element) formats.item(0)).getAttribute("type");
        if (!type.isEmpty()) {
          return type;
        }
      }
    }
    return fallback;
  }

  static String poolXml(StoragePoolSpec spec) {
    Document doc = Xml.newDocument();
    Element pool = doc.createElement("pool");
    doc.appendChild(pool);
    pool.setAttribute("type", spec.type());
    Xml.text(pool, "name", spec.name());
    if (spec.sourceHost().isPresent() || spec.sourcePath().isPresent()) {
      Element source = Xml.child(pool, "source");
      spec.sourceHost().ifPresent(h -> Xml.child(source, "host").setAttribute("name", h));
      spec.sourcePath().ifPresent(p -> Xml.child(source, "dir").setAttribute("path", p));
    }
    Xml.text(Xml.child(pool, "target"), "path", spec.path());
    return Xml.serialize(doc);
  }

  static String volumeXml(String name, long capacityBytes, String format) {
    Document doc = Xml.newDocument();
    Element volume = doc.createElement("volume");
    doc.appendChild(volume);
    Xml.text(volume, "name", name);
    Xml.text(volume, "capacity", String.valueOf(capacityBytes)).setAttribute("unit", "bytes");
    Xml.child(Xml.child(volume, "target"), "format").setAttribute("type", format);
    return Xml.serialize(doc);
  }
}
