package io.polyvisor.driver.libvirt;

import java.io.StringReader;
import java.io.StringWriter;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.transform.OutputKeys;
import javax.xml.transform.Transformer;
import javax.xml.transform.TransformerException;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;

/**
 * The JDK's DOM, set up safely: documents are built node by node (so every value is escaped by
 * the serializer, never spliced into markup) and parsed without DTDs or external entities.
 */
final class Xml {

  private Xml() {}

  static Document newDocument() {
    return builder().newDocument();
  }

  static Document parse(String xml) {
    try {
      return builder().parse(new InputSource(new StringReader(xml)));
    } catch (SAXException | java.io.IOException e) {
      throw new IllegalArgumentException("not well-formed XML: " + e.getMessage(), e);
    }
  }

  /** A document, or one element of it with what it holds. */
  static String serialize(org.w3c.dom.Node document) {
    try {
      TransformerFactory factory = TransformerFactory.newInstance();
      factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
      Transformer transformer = factory.newTransformer();
      transformer.setOutputProperty(OutputKeys.OMIT_XML_DECLARATION, "yes");
      transformer.setOutputProperty(OutputKeys.INDENT, "yes");
      StringWriter out = new StringWriter();
      transformer.transform(new DOMSource(document), new StreamResult(out));
      return out.toString();
    } catch (TransformerException e) {
      throw new IllegalStateException("cannot serialize XML", e);
    }
  }

  /** Appends {@code <name>} to {@code parent} and returns it. */
  static Element child(Element parent, String name) {
    Element element = parent.getOwnerDocument().createElement(name);
    parent.appendChild(element);
    return element;
  }

  /** Appends {@code <name>text</name>}; the text is escaped by the DOM, whatever it holds. */
  static Element text(Element parent, String name, String text) {
    Element element = child(parent, name);
    element.setTextContent(text);
    return element;
  }

  /** The first descendant with that local name (any namespace), if any. */
  static java.util.Optional<Element> first(Element root, String namespace, String localName) {
    var nodes = root.getElementsByTagNameNS(namespace, localName);
    return nodes.getLength() == 0 ? java.util.Optional.empty() : java.util.Optional.of((Element) nodes.item(0));
  }

  private static DocumentBuilder builder() {
    try {
      DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
      factory.setNamespaceAware(true);
      factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
      factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
      factory.setXIncludeAware(false);
      factory.setExpandEntityReferences(false);
      return factory.newDocumentBuilder();
    } catch (ParserConfigurationException e) {
      throw new IllegalStateException("no usable XML parser", e);
    }
  }
}
