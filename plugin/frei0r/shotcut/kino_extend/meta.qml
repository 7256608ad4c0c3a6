// Shotcut filter description for kino's kino_extend frei0r plugin (installed by `make editors`).
import QtQuick 2.0
import org.shotcut.qml 1.0

Metadata {
    type: Metadata.Filter
    name: qsTr('Kino: Extend')
    keywords: qsTr('generate text prompt continue extend ai video', 'search keywords for the Kino: Extend video filter') + ' kino kino_extend #rgba'
    mlt_service: 'frei0r.kino_extend'
    objectName: 'kino_extend'
    qml: 'ui.qml'
    allowMultiple: false
}
