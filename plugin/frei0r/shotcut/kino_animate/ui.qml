// The panel of kino's frei0r filter in Shotcut. Every kino parameter is a frei0r string, so
// every value is written with filter.set(name, string); empty means the plugin's default.
import QtQuick 2.15
import QtQuick.Controls 2.12
import QtQuick.Layouts 1.12
import Shotcut.Controls 1.0 as Shotcut

Item {
    id: kino

    property var devices: ['cpu', 'auto', 'cuda', 'cuda:1', 'tensorrt']
    property var fits: ['letterbox', 'crop']
    property var samplers: ['', 'deterministic', 'stochastic']

    // The field's pattern allows any two numbers; the plugin refuses an interval whose low end is
    // not below its high end (its clip passes through), so the field never hands one over.
    function intervalRises(text) {
        var p = text.split(',');
        return p.length !== 2 || parseFloat(p[0]) < parseFloat(p[1]);
    }

    function load() {
        promptText.text = filter.get('prompt');
        seedSpin.value = parseInt(filter.get('seed')) || 0;
        stepsSpin.value = parseInt(filter.get('steps')) || 20;
        guidanceSpin.value = parseFloat(filter.get('guidance')) || 2;
        intervalText.text = filter.get('guidance_interval');
        negativeText.text = filter.get('negative_prompt');
        modelText.text = filter.get('model');
        var d = devices.indexOf(filter.get('device'));
        deviceCombo.currentIndex = d < 0 ? 0 : d;
        var f = fits.indexOf(filter.get('fit'));
        fitCombo.currentIndex = f < 0 ? 1 : f;
        var s = samplers.indexOf(filter.get('sampler'));
        samplerCombo.currentIndex = s < 0 ? 0 : s;
    }

    width: 350
    height: 460
    Component.onCompleted: {
        if (filter.isNew) {
            // The shipped model's steps (20); guidance stays unset, the model's defaults (kino-shapes: 2
            // from text, 4 next to given frames), until it is changed.
            filter.set('prompt', '');
            filter.set('seed', '0');
            filter.set('steps', '20');
            filter.set('device', 'cpu');
            filter.set('fit', 'crop');
        }
        load();
    }

    GridLayout {
        anchors.fill: parent
        anchors.margins: 8
        columns: 2

        Label {
            text: qsTr('Prompt')
            Layout.alignment: Qt.AlignRight | Qt.AlignTop
        }

        TextArea {
            id: promptText

            Layout.fillWidth: true
            Layout.minimumHeight: 60
            wrapMode: TextEdit.Wrap
            selectByMouse: true
            placeholderText: qsTr('What the video shows, e.g. a red circle moving left')
            onEditingFinished: filter.set('prompt', text)
        }

        Label {
            text: qsTr('Seed')
            Layout.alignment: Qt.AlignRight
        }

        SpinBox {
            id: seedSpin

            from: 0
            to: 2147483647
            editable: true
            onValueModified: filter.set('seed', String(value))
        }

        Label {
            text: qsTr('Steps')
            Layout.alignment: Qt.AlignRight
        }

        SpinBox {
            id: stepsSpin

            from: 1
            to: 1000
            editable: true
            onValueModified: filter.set('steps', String(value))
        }

        Label {
            text: qsTr('Guidance')
            Layout.alignment: Qt.AlignRight
        }

        Shotcut.DoubleSpinBox {
            id: guidanceSpin

            Layout.minimumWidth: 120
            from: 0
            to: 50
            stepSize: 0.5
            decimals: 1
            onValueModified: filter.set('guidance', value.toFixed(1))
        }

        Label {
            text: qsTr('Guidance interval')
            Layout.alignment: Qt.AlignRight
        }

        TextField {
            id: intervalText

            Layout.fillWidth: true
            selectByMouse: true
            placeholderText: qsTr("LOW,HIGH noise levels to guide, e.g. 0.5,1; empty: the model's default")
            // Empty or two numbers: as Start, a validator that accepts the empty field.
            validator: RegularExpressionValidator {
                regularExpression: /^\s*([0-9.]+\s*,\s*[0-9.]+)?\s*$/
            }
            color: kino.intervalRises(text) ? palette.text : 'red'
            onEditingFinished: {
                if (kino.intervalRises(text))
                    filter.set('guidance_interval', text.trim());
            }
        }

        Label {
            text: qsTr('Negative prompt')
            Layout.alignment: Qt.AlignRight
        }

        TextField {
            id: negativeText

            Layout.fillWidth: true
            selectByMouse: true
            placeholderText: qsTr("the model's default")
            onEditingFinished: filter.set('negative_prompt', text)
        }

        Label {
            text: qsTr('Model')
            Layout.alignment: Qt.AlignRight
        }

        TextField {
            id: modelText

            Layout.fillWidth: true
            selectByMouse: true
            placeholderText: qsTr('kino-shapes (shipped); or a model folder')
            onEditingFinished: filter.set('model', text.trim())
        }

        Label {
            text: qsTr('Device')
            Layout.alignment: Qt.AlignRight
        }

        Shotcut.ComboBox {
            id: deviceCombo

            Layout.fillWidth: true
            model: [qsTr('CPU'), qsTr('Automatic (GPU if there is one)'), qsTr('CUDA GPU 0'), qsTr('CUDA GPU 1'), qsTr('TensorRT GPU 0')]
            onActivated: filter.set('device', devices[index])
        }

        Label {
            text: qsTr('Fit')
            Layout.alignment: Qt.AlignRight
        }

        Shotcut.ComboBox {
            id: fitCombo

            Layout.fillWidth: true
            model: [qsTr('Letterbox (black bars)'), qsTr('Crop (fill the frame)')]
            onActivated: filter.set('fit', fits[index])
        }

        Label {
            text: qsTr('Sampler')
            Layout.alignment: Qt.AlignRight
        }

        Shotcut.ComboBox {
            id: samplerCombo

            Layout.fillWidth: true
            model: [qsTr("The model's default"), qsTr('Deterministic'), qsTr('Stochastic (follows the prompt more often)')]
            onActivated: filter.set('sampler', samplers[index])
        }

        Label {
            Layout.columnSpan: 2
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            text: qsTr('Every frame is replaced by footage generated from the prompt, starting from the first frame of the clip. Generating takes a while on a CPU.')
        }

        Item {
            Layout.fillHeight: true
        }
    }

    Connections {
        function onChanged() {
            load();
        }

        target: filter
    }
}
