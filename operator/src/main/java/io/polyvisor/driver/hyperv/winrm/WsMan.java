package io.polyvisor.driver.hyperv.winrm;

import java.io.ByteArrayInputStream;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.UUID;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.TransformerException;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.w3c.dom.NodeList;

/**
 * The WS-Management (MS-WSMV) remote shell messages: names, and building and reading envelopes
 * with the JDK's DOM, so that nothing a user wrote is ever spliced into XML text.
 */
public final class WsMan {

  public static final String SOAP = "http://www.w3.org/2003/05/soap-envelope";
  public static final String ADDRESSING = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
  public static final String WSMAN = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
  public static final String SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
  public static final String TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
  public static final String FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";

  public static final String RESOURCE_CMD = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
  public static final String ACTION_CREATE = TRANSFER + "/Create";
  public static final String ACTION_DELETE = TRANSFER + "/Delete";
  public static final String ACTION_COMMAND = SHELL + "/Command";
  public static final String ACTION_RECEIVE = SHELL + "/Receive";
  public static final String ACTION_SIGNAL = SHELL + "/Signal";
  /** Input for a running command (MS-WSMV 3.1.4.13), answered by {@code SendResponse}. */
  public static final String ACTION_SEND = SHELL + "/Send";
  public static final String SIGNAL_TERMINATE = SHELL + "/signal/terminate";
  public static final String STATE_DONE = SHELL + "/CommandState/Done";
  public static final String STATE_RUNNING = SHELL + "/CommandState/Running";
  public static final String ANONYMOUS = ADDRESSING + "/role/anonymous";
  /** The WSManFault code of a Receive that found no output within the operation timeout. */
  public static final String CODE_TIMED_OUT = "2150858793";

  private WsMan() {}

  /** A request envelope with the header every WS-Man shell request carries. */
  public static Document request(String to, String action, Optional<String> shellId, String operationTimeout) {
    Document doc = newDocument();
    Element envelope = doc.createElementNS(SOAP, "s:Envelope");
    doc.appendChild(envelope);
    Element header = append(envelope, SOAP, "s:Header");
    append(header, ADDRESSING, "a:To").setTextContent(to);
    Element replyTo = append(header, ADDRESSING, "a:ReplyTo");
    Element address = append(replyTo, ADDRESSING, "a:Address");
    address.setAttributeNS(SOAP, "s:mustUnderstand", "true");
    address.setTextContent(ANONYMOUS);
    append(header, WSMAN, "w:MaxEnvelopeSize").setTextContent("153600");
    append(header, ADDRESSING, "a:MessageID").setTextContent("uuid:" + UUID.randomUUID().toString().toUpperCase());
    Element locale = append(header, WSMAN, "w:Locale");
    locale.setAttributeNS(XMLConstants.XML_NS_URI, "xml:lang", "en-US");
    append(header, WSMAN, "w:OperationTimeout").setTextContent(operationTimeout);
    append(header, WSMAN, "w:ResourceURI").setTextContent(RESOURCE_CMD);
    append(header, ADDRESSING, "a:Action").setTextContent(action);
    shellId.ifPresent(id -> {
      Element selector = append(append(header, WSMAN, "w:SelectorSet"), WSMAN, "w:Selector");
      selector.setAttribute("Name", "ShellId");
      selector.setTextContent(id);
    });
    append(envelope, SOAP, "s:Body");
    return doc;
  }

  public static Element header(Document doc) {
    return child(doc.getDocumentElement(), SOAP, "Header").orElseThrow();
  }

  public static Element body(Document doc) {
    return child(doc.getDocumentElement(), SOAP, "Body").orElseThrow();
  }

  public static String messageId(Document doc) {
    return text(header(doc), ADDRESSING, "MessageID").orElse("");
  }

  public static Element append(Element parent, String namespace, String qualifiedName) {
    Element element = parent.getOwnerDocument().createElementNS(namespace, qualifiedName);
    parent.appendChild(element);
    return element;
  }

  /** The first descendant element with this namespace and local name. */
  public static Optional<Element> find(Node root, String namespace, String localName) {
    NodeList found = root instanceof Document d
        ? d.getElementsByTagNameNS(namespace, localName)
        : ((Element) root).getElementsByTagNameNS(namespace, localName);
    return found.getLength() == 0 ? Optional.empty() : Optional.of((Element) found.item(0));
  }

  public static Optional<String> text(Node root, String namespace, String localName) {
    return find(root, namespace, localName).map(e -> e.getTextContent().trim());
  }

  private static Optional<Element> child(Element parent, String namespace, String localName) {
    for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
      if (n instanceof Element e && namespace.equals(e.getNamespaceURI()) && localName.equals(e.getLocalName())) {
        return Optional.of(e);
      }
    }
    return Optional.empty();
  }

  public static Document newDocument() {
    return builder().newDocument();
  }

  public static Document parse(byte[] xml) {
    try {
      return builder().parse(new ByteArrayInputStream(xml));
    } catch (Exception e) {
      throw new IllegalArgumentException("not a WS-Management envelope: " + e.getMessage(), e);
    }
  }

  public static byte[] serialize(Document doc) {
    try {
      var transformer = TransformerFactory.newInstance().newTransformer();
      transformer.setOutputProperty(OutputKeys.ENCODING, "UTF-8");
      StringWriter out = new StringWriter();
      transformer.transform(new DOMSource(doc), new StreamResult(out));
      return out.toString().getBytes(StandardCharsets.UTF_8);
    } catch (TransformerException e) {
      throw new IllegalStateException(e);
    }
  }

  private static DocumentBuilder builder() {
    try {
      DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
      factory.setNamespaceAware(true);
      // Envelopes come from the network: no DTDs, no external entities.
      factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
      factory.setExpandEntityReferences(false);
      return factory.newDocumentBuilder();
    } catch (ParserConfigurationException e) {
      throw new IllegalStateException(e);
    }
  }
}
